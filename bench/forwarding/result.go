package forwarding

// Result is one set-up's measurement of the forwarding hop: a node-local
// forwarder taking events from local emitters over a Unix stream socket and
// delivering them over loopback TCP to a receiver.
type Result struct {
	Key     string `json:"key"` // readout, readout-null, rsyslog-linkedlist, rsyslog-disk
	Setup   string `json:"setup"`
	Process string `json:"process"` // the forwarding process measured
	Events  int    `json:"events"`
	// Wall time from the first byte written to the forwarder until the
	// receiver holds (and, for readout, has acknowledged) every event.
	WallSeconds  float64 `json:"wall_seconds"`
	EventsPerSec float64 `json:"events_per_second"`
	// CPU of the forwarding process over the same interval.
	CPUSeconds        float64 `json:"cpu_seconds"`
	CPUPerMillion     float64 `json:"cpu_seconds_per_million_events"`
	PeakRSSMiB        float64 `json:"peak_rss_mib"`
	InBytesPerEvent   float64 `json:"in_bytes_per_event"`            // emitter to forwarder
	OutBytesPerEvent  float64 `json:"out_bytes_per_event,omitempty"` // forwarder to receiver
	CPURatioVsReadout float64 `json:"cpu_ratio_vs_readout,omitempty"`
	// IngestSeconds is when the forwarder had made every event durable in
	// its spool (readout only): the emitter hop alone.
	IngestSeconds float64 `json:"ingest_seconds,omitempty"`
	// Receiver is the receiving process when it is measured too (readout's
	// collector); rsyslog's receiver is the harness's own line counter.
	Receiver *ReceiverUsage `json:"receiver,omitempty"`
	// Audit is `readout audit` after the run, summed over emitters.
	Audit  *Audit `json:"audit,omitempty"`
	Config string `json:"config,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ReceiverUsage is the receiving process's cost over the same interval.
type ReceiverUsage struct {
	Process       string  `json:"process"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerMillion float64 `json:"cpu_seconds_per_million_events"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
}

// Keys of the readout set-ups.
const (
	KeyReadout     = "readout"
	KeyReadoutNull = "readout-null"
)

func perMillion(cpu float64, events int) float64 {
	if events == 0 {
		return 0
	}
	return cpu * 1e6 / float64(events)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Audit is what `readout audit` says about the run's emitters, summed.
type Audit struct {
	Emitters    int   `json:"emitters"`
	Sent        int64 `json:"sent"`
	Received    int64 `json:"received"`
	Duplicates  int64 `json:"duplicates"`
	Unexplained int64 `json:"unexplained"`
}

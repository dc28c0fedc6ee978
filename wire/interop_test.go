package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// These tests run the reference implementation, the `capnp` tool, against
// the hand-written encoder and the go-capnp decoder, both ways.

// capnpTool returns the arguments that make `capnp decode`/`capnp encode`
// understand schema/events.capnp, or skips the test when the tool is
// missing (outside CI, where .ci/run installs it).
func capnpTool(t *testing.T) (bin string, args []string) {
	t.Helper()
	bin, err := exec.LookPath("capnp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("capnp is not on PATH (apt-get install capnproto): %v", err)
		}
		t.Skip("capnp is not on PATH; install the capnproto package")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
	if err != nil {
		t.Fatalf("locate go-capnp's std schemas: %v", err)
	}
	std := filepath.Join(strings.TrimSpace(string(out)), "std")
	schema, err := filepath.Abs(filepath.Join("..", "schema", "events.capnp"))
	if err != nil {
		t.Fatal(err)
	}
	return bin, []string{"-I" + std, schema, "Event"}
}

func runCapnp(t *testing.T, bin string, args []string, stdin []byte) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("capnp %s: %v: %s", args[0], err, stderr.String())
	}
	return out
}

// TestInteropCapnpDecodesAppendEvent writes events with AppendEvent and has
// `capnp decode` print them, then checks the text field for field.
func TestInteropCapnpDecodesAppendEvent(t *testing.T) {
	bin, args := capnpTool(t)
	r := rand.New(rand.NewPCG(7, 8))
	evs := []Event{encFullEvent(), {Kind: KindClosed, EmitterID: [16]byte{1, 2}, Seq: 10, DroppedTotal: 2}}
	for i := 0; i < 200; i++ {
		evs = append(evs, encRandEvent(r, 60))
	}
	var stream []byte
	for i := range evs {
		stream = AppendEvent(stream, &evs[i])
	}
	out := runCapnp(t, bin, append([]string{"decode", "--short"}, args...), stream)
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("unexpected message count from capnp decode; got %d; want %d", len(lines), len(evs))
	}
	for i, line := range lines {
		got, err := parseCapnpText(line)
		if err != nil {
			t.Fatalf("event %d: parse %q: %v", i, line, err)
		}
		want := eventFields(&evs[i])
		for k, w := range want {
			g, ok := got[k]
			if !ok && w == "" {
				continue // capnp omits null pointers
			}
			if !ok {
				t.Fatalf("event %d: capnp decode lacks %s in %q", i, k, line)
			}
			if !sameField(g, w) {
				t.Fatalf("event %d: field %s; got %q; want %q", i, k, g, w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Fatalf("event %d: capnp decode shows unexpected field %s = %q", i, k, got[k])
			}
		}
	}
}

// TestInteropCapnpEncodeDecodes feeds text through `capnp encode` and
// decodes the binary with DecodeEventCapnp.
func TestInteropCapnpEncodeDecodes(t *testing.T) {
	bin, args := capnpTool(t)
	full := encFullEvent()
	cases := []struct {
		name string
		text string
		want Event
	}{
		{"full inference", eventText(&full), full},
		{"closed", `(emitterId = 0x"00112233445566778899aabbccddeeff", seq = 41, droppedTotal = 3, closed = void)`,
			Event{EmitterID: [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, Seq: 41, DroppedTotal: 3, Kind: KindClosed}},
		{"lifecycle", `(timestampNs = -5, lifecycle = (beginTs = 1, endTs = 2, eventType = endpoint, modelId = "@cf/openai/whisper", hostname = "hé"))`,
			Event{TimestampNs: -5, Kind: KindLifecycle, Lifecycle: Lifecycle{BeginTs: 1, EndTs: 2, ModelID: "@cf/openai/whisper", Hostname: "hé"}}},
		{"defaults only", `(inference = ())`, Event{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := runCapnp(t, bin, append([]string{"encode"}, args...), []byte(tc.text))
			got, err := DecodeEventCapnp(out)
			if err != nil {
				t.Fatalf("decode capnp encode output: %v", err)
			}
			if !encSameEvent(got, tc.want) {
				t.Fatalf("unexpected event\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// eventFields flattens ev the way parseCapnpText flattens capnp's output:
// "inference.modelId" and so on, values as capnp prints them, Data as raw
// bytes, and "" for a pointer that should be absent.
func eventFields(ev *Event) map[string]string {
	id := func(b [16]byte) string {
		if b == ([16]byte{}) {
			return ""
		}
		return string(b[:])
	}
	m := map[string]string{
		"id":           id(ev.ID),
		"timestampNs":  strconv.FormatInt(ev.TimestampNs, 10),
		"emitterId":    id(ev.EmitterID),
		"seq":          strconv.FormatUint(ev.Seq, 10),
		"droppedTotal": strconv.FormatUint(ev.DroppedTotal, 10),
	}
	switch ev.Kind {
	case KindInference:
		v := &ev.Inference
		for k, val := range map[string]string{
			"accountId":          strconv.FormatUint(v.AccountID, 10),
			"modelId":            v.ModelID,
			"requestTimeUs":      strconv.FormatUint(v.RequestTimeUs, 10),
			"inferenceTimeUs":    strconv.FormatUint(v.InferenceTimeUs, 10),
			"queuingTimeUs":      strconv.FormatUint(v.QueuingTimeUs, 10),
			"timeToFirstTokenUs": strconv.FormatUint(v.TimeToFirstTokenUs, 10),
			"neurons":            strconv.FormatFloat(v.Neurons, 'g', -1, 64),
			"errorCode":          strconv.FormatUint(uint64(v.ErrorCode), 10),
			"httpStatus":         strconv.FormatUint(uint64(v.HTTPStatus), 10),
			"coloId":             strconv.FormatUint(uint64(v.ColoID), 10),
			"sourceColoId":       strconv.FormatUint(uint64(v.SourceColoID), 10),
			"localQueueSize":     strconv.FormatUint(uint64(v.LocalQueueSize), 10),
			"modelContainerId":   v.ModelContainerID,
			"requestSource":      v.RequestSource.String(),
			"streamed":           strconv.FormatBool(v.Streamed),
			"beta":               strconv.FormatBool(v.Beta),
			"externalEndpoint":   strconv.FormatBool(v.ExternalEndpoint),
			"queuedInColo":       strconv.FormatBool(v.QueuedInColo),
			"unixSocket":         strconv.FormatBool(v.UnixSocket),
			"backend":            v.Backend,
			"inputTokens":        strconv.FormatUint(uint64(v.InputTokens), 10),
			"outputTokens":       strconv.FormatUint(uint64(v.OutputTokens), 10),
		} {
			m["inference."+k] = val
		}
	case KindLifecycle:
		v := &ev.Lifecycle
		m["lifecycle.beginTs"] = strconv.FormatInt(v.BeginTs, 10)
		m["lifecycle.endTs"] = strconv.FormatInt(v.EndTs, 10)
		m["lifecycle.eventType"] = "endpoint"
		m["lifecycle.modelId"] = v.ModelID
		m["lifecycle.hostname"] = v.Hostname
	case KindClosed:
		m["closed"] = "void"
	}
	return m
}

// sameField compares capnp's text for a value with ours; numbers that do not
// match as text are compared as floats, since capnp and Go may spell the same
// double differently.
func sameField(got, want string) bool {
	if got == want {
		return true
	}
	g, err1 := strconv.ParseFloat(got, 64)
	w, err2 := strconv.ParseFloat(want, 64)
	return err1 == nil && err2 == nil && g == w
}

// eventText renders an inference event in capnp's text format.
func eventText(ev *Event) string {
	v := &ev.Inference
	return fmt.Sprintf(`(id = 0x"%s", timestampNs = %d, emitterId = 0x"%s", seq = %d, droppedTotal = %d, `+
		`inference = (accountId = %d, modelId = %q, requestTimeUs = %d, inferenceTimeUs = %d, queuingTimeUs = %d, `+
		`timeToFirstTokenUs = %d, neurons = %s, errorCode = %d, httpStatus = %d, coloId = %d, sourceColoId = %d, `+
		`localQueueSize = %d, modelContainerId = %q, requestSource = %s, streamed = %t, beta = %t, `+
		`externalEndpoint = %t, queuedInColo = %t, unixSocket = %t, backend = %q, inputTokens = %d, outputTokens = %d))`,
		hex.EncodeToString(ev.ID[:]), ev.TimestampNs, hex.EncodeToString(ev.EmitterID[:]), ev.Seq, ev.DroppedTotal,
		v.AccountID, v.ModelID, v.RequestTimeUs, v.InferenceTimeUs, v.QueuingTimeUs, v.TimeToFirstTokenUs,
		strconv.FormatFloat(v.Neurons, 'g', -1, 64), v.ErrorCode, v.HTTPStatus, v.ColoID, v.SourceColoID,
		v.LocalQueueSize, v.ModelContainerID, v.RequestSource, v.Streamed, v.Beta, v.ExternalEndpoint,
		v.QueuedInColo, v.UnixSocket, v.Backend, v.InputTokens, v.OutputTokens)
}

// parseCapnpText parses one struct in capnp's text format, as printed by
// `capnp decode --short`, into dotted field paths. Strings are unescaped to
// their raw bytes.
func parseCapnpText(s string) (map[string]string, error) {
	p := &textParser{s: s}
	out := map[string]string{}
	if err := p.parseStruct("", out); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("trailing text at %d", p.i)
	}
	return out, nil
}

type textParser struct {
	s string
	i int
}

func (p *textParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *textParser) expect(c byte) error {
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("want %q at %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *textParser) parseStruct(prefix string, out map[string]string) error {
	if err := p.expect('('); err != nil {
		return err
	}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			return nil
		}
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] == '_' || isAlnum(p.s[p.i])) {
			p.i++
		}
		name := p.s[start:p.i]
		if name == "" {
			return fmt.Errorf("want a field name at %d", p.i)
		}
		if err := p.expect('='); err != nil {
			return err
		}
		p.skipSpace()
		switch {
		case p.i < len(p.s) && p.s[p.i] == '(':
			if err := p.parseStruct(prefix+name+".", out); err != nil {
				return err
			}
		case p.i < len(p.s) && p.s[p.i] == '"':
			v, err := p.parseString()
			if err != nil {
				return err
			}
			out[prefix+name] = v
		default:
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ')' {
				p.i++
			}
			out[prefix+name] = strings.TrimSpace(p.s[start:p.i])
		}
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// parseString reads a double-quoted string with C escapes (\n, \", \\,
// \xHH, octal \ooo) as KJ prints them.
func (p *textParser) parseString() (string, error) {
	p.i++ // opening quote
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("dangling escape")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'a':
				b = append(b, '\a')
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'v':
				b = append(b, '\v')
			case 'x':
				if p.i+2 > len(p.s) {
					return "", fmt.Errorf("short \\x escape")
				}
				v, err := strconv.ParseUint(p.s[p.i:p.i+2], 16, 8)
				if err != nil {
					return "", err
				}
				b = append(b, byte(v))
				p.i += 2
			case '0', '1', '2', '3', '4', '5', '6', '7':
				j := p.i - 1
				for p.i < len(p.s) && p.i-j < 3 && p.s[p.i] >= '0' && p.s[p.i] <= '7' {
					p.i++
				}
				v, err := strconv.ParseUint(p.s[j:p.i], 8, 8)
				if err != nil {
					return "", err
				}
				b = append(b, byte(v))
			default:
				b = append(b, e)
			}
		default:
			b = append(b, c)
		}
	}
	return "", fmt.Errorf("unterminated string")
}

// TestInteropEveryKind: for every kind, the reference tool reads what
// AppendEvent writes (decode to text) and writes it back (encode), and
// DecodeEvent gets the very event back, labels and all; and text written
// by hand, as an outside tool would, decodes to the value it spells.
func TestInteropEveryKind(t *testing.T) {
	bin, args := capnpTool(t)
	var stream []byte
	for _, k := range Kinds {
		ev := sampleEvent(k)
		stream = AppendEvent(stream, &ev)
	}
	text := runCapnp(t, bin, append([]string{"decode", "--short"}, args...), stream)
	back := runCapnp(t, bin, append([]string{"encode"}, args...), text)
	i := 0
	err := Frames(back, MaxMessageSize, func(frame []byte) error {
		var got Event
		if err := DecodeEvent(frame, &got); err != nil {
			return err
		}
		if want := sampleEvent(Kinds[i]); !Equal(&got, &want) {
			t.Fatalf("%v through capnp decode and encode:\ngot  %+v\nwant %+v", Kinds[i], got, want)
		}
		i++
		return nil
	})
	if err != nil || i != len(Kinds) {
		t.Fatalf("read %d of %d events back: %v", i, len(Kinds), err)
	}

	byHand := []struct {
		text string
		want Event
	}{
		{`(timestampNs = 15000000001, instanceState = (intervalStartNs = 1, intervalEndNs = 15000000001, activeNs = 5000000000, ` +
			`idleNs = 10000000000, concurrencyNs = 7500000000, deploymentKey = "d", hardware = "h", computeUnitCount = 1, ` +
			`instanceMetadata = [(key = "k", value = "v")]))`,
			Event{TimestampNs: 15000000001, Kind: KindInstanceState, InstanceState: InstanceState{IntervalStartNs: 1,
				IntervalEndNs: 15000000001, ActiveNs: 5e9, IdleNs: 1e10, ConcurrencyNs: 75e8, DeploymentKey: "d", Hardware: "h",
				ComputeUnitCount: 1, InstanceMetadata: []Label{{Key: "k", Value: "v"}}}}},
		{`(setupRun = (status = failed, scheduledAtNs = 1, startedAtNs = 2, completedAtNs = 3, logs = "boom\n", ` +
			`runtimeMetadata = [(key = "cog", value = "0.9")], instanceMetadata = []))`,
			Event{Kind: KindSetupRun, SetupRun: SetupRun{Status: SetupFailed, ScheduledAtNs: 1, StartedAtNs: 2, CompletedAtNs: 3,
				Logs: "boom\n", RuntimeMetadata: []Label{{Key: "cog", Value: "0.9"}}}}},
		{`(prediction = (predictionId = "p", status = canceled, cancelReason = "user", inputTokens = 3, imageCount = 2))`,
			Event{Kind: KindPrediction, Prediction: Prediction{PredictionID: "p", Status: PredictionCanceled, CancelReason: "user",
				InputTokens: 3, ImageCount: 2}}},
		{`(download = (url = "https://example.com/w", host = "example.com", sizeBytes = 10, durationUs = 5, bytesPerSecond = 2.5, error = "timeout"))`,
			Event{Kind: KindDownload, Download: Download{URL: "https://example.com/w", Host: "example.com", SizeBytes: 10,
				DurationUs: 5, BytesPerSecond: 2.5, Error: "timeout"}}},
		{`(lifecycle = (beginTs = 1, eventType = endpoint, modelId = "m", endpoint = "10.0.0.1:80"))`,
			Event{Kind: KindLifecycle, Lifecycle: Lifecycle{BeginTs: 1, ModelID: "m", Endpoint: "10.0.0.1:80"}}},
	}
	for _, tc := range byHand {
		frame := runCapnp(t, bin, append([]string{"encode"}, args...), []byte(tc.text))
		var got Event
		if err := DecodeEvent(frame, &got); err != nil || !Equal(&got, &tc.want) {
			t.Fatalf("%s:\ngot  %+v, %v\nwant %+v", tc.text, got, err, tc.want)
		}
	}
}

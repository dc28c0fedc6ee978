package wire

import (
	"bytes"
	"strings"
	"testing"
)

// memberOf is the Member of ev's value; the zero Member for a kind without
// one (closed). A new kind with a value adds its case here.
func memberOf(ev *Event) Member {
	switch ev.Kind {
	case KindInference:
		return InferenceMember(&ev.Inference)
	case KindLifecycle:
		return LifecycleMember(&ev.Lifecycle)
	case KindInstanceState:
		return InstanceStateMember(&ev.InstanceState)
	case KindSetupRun:
		return SetupRunMember(&ev.SetupRun)
	case KindPrediction:
		return PredictionMember(&ev.Prediction)
	case KindDownload:
		return DownloadMember(&ev.Download)
	}
	return Member{}
}

// sampleEvent is an event of kind k with every field of its member set,
// so that a codec that drops or misplaces a field fails the comparisons.
func sampleEvent(k Kind) Event {
	ev := Event{ID: [16]byte{1}, EmitterID: [16]byte{2}, Seq: 3, TimestampNs: 1_800_000_000_000_000_007, DroppedTotal: 1, Kind: k}
	md := []Label{{Key: "zone", Value: "us-east-1a"}, {Key: "", Value: "é"}, {Key: "gpu", Value: ""}}
	switch k {
	case KindInference:
		ev.Inference = Inference{AccountID: 9, ModelID: "@cf/m", RequestTimeUs: 1, InferenceTimeUs: 2, QueuingTimeUs: 3,
			TimeToFirstTokenUs: 4, Neurons: 5.5, ErrorCode: 6, HTTPStatus: 200, ColoID: 7, SourceColoID: 8,
			LocalQueueSize: 9, ModelContainerID: "c", RequestSource: SourcePages, Streamed: true, Beta: true,
			ExternalEndpoint: true, QueuedInColo: true, UnixSocket: true, Backend: "vllm", InputTokens: 10, OutputTokens: 11}
	case KindLifecycle:
		ev.Lifecycle = Lifecycle{BeginTs: 1, EndTs: 2, ModelID: "m", Hostname: "h", Endpoint: "10.0.0.1:80"}
	case KindInstanceState:
		ev.InstanceState = InstanceState{IntervalStartNs: 100, IntervalEndNs: 15_000_000_100, ActiveNs: 5e9, BootNs: 1e9,
			IdleNs: 9e9, ConcurrencyNs: 7_500_000_001, DeploymentKey: "acme/flux", DockerImageURI: "r8.im/acme/flux@sha256:ab",
			Hardware: "gpu-a100", ComputeUnit: "gpu", InstanceID: "i-1", Version: "v7", ComputeUnitCount: 2, InstanceMetadata: md}
	case KindSetupRun:
		ev.SetupRun = SetupRun{Status: SetupTimeout, ScheduledAtNs: 1, StartedAtNs: 2, CompletedAtNs: 3, Logs: "loading weights\n",
			LogsDroppedBytes: 4, DeploymentKey: "acme/flux", InstanceID: "i-1", InstanceMetadata: md[:1], RuntimeMetadata: md[1:]}
	case KindPrediction:
		ev.Prediction = Prediction{PredictionID: "p-1", DeploymentKey: "acme/flux", Version: "v7", ErrorCode: "E1234",
			CancelReason: "deadline", Status: PredictionAborted, CreatedAtNs: 1, StartedAtNs: 2, CompletedAtNs: 3,
			InputTokens: 4, OutputTokens: 5, ImageCount: 6, Attributes: md}
	case KindDownload:
		ev.Download = Download{URL: "https://huggingface.co/a/b/resolve/main/w.safetensors", Host: "huggingface.co",
			SizeBytes: 1 << 30, DurationUs: 2e6, BytesPerSecond: 536870912, Error: "", InstanceID: "i-1"}
	}
	return ev
}

// TestEveryKindRoundTrips walks every Kind that has a name and checks that
// each codec knows it: the fast and the reference encoders agree byte for
// byte, both decoders read it back, and a kind with a value has a Member
// that Check accepts and Fill copies back. A kind added to event.go but
// missing from a switch in kinds.go fails here.
func TestEveryKindRoundTrips(t *testing.T) {
	n := 0
	for k := Kind(0); k.String() != "unknown"; k++ {
		n++
		t.Run(k.String(), func(t *testing.T) {
			ev := sampleEvent(k)
			fast := AppendEvent(nil, &ev)
			ref, err := EncodeEventCapnp(&ev)
			if err != nil {
				t.Fatalf("reference encoder: %v", err)
			}
			if !bytes.Equal(fast, ref) {
				t.Fatalf("AppendEvent and EncodeEventCapnp differ:\n got %x\nwant %x", fast, ref)
			}
			var got Event
			if err := DecodeEvent(fast, &got); err != nil || !Equal(&got, &ev) {
				t.Fatalf("DecodeEvent: %+v, %v; want %+v", got, err, ev)
			}
			if got, err := DecodeEventCapnp(fast); err != nil || !Equal(&got, &ev) {
				t.Fatalf("DecodeEventCapnp: %+v, %v; want %+v", got, err, ev)
			}
			if k == KindClosed {
				return // Void: nothing to emit
			}
			m := memberOf(&ev)
			if err := m.Check(MaxMessageSize); err != nil {
				t.Fatalf("Member.Check: %v", err)
			}
			var filled Event
			m.Fill(&filled)
			want := ev
			want.ID, want.EmitterID, want.Seq, want.TimestampNs, want.DroppedTotal = [16]byte{}, [16]byte{}, 0, 0, 0
			if !Equal(&filled, &want) {
				t.Fatalf("Member.Fill: %+v; want %+v", filled, want)
			}
		})
	}
	if n != len(Kinds)+1 {
		t.Fatalf("%d kinds have a name; Kinds lists %d and closed", n, len(Kinds))
	}
}

// TestCheck: Member.Check refuses exactly the events whose texts are not
// valid UTF-8 and those whose encoding, once stamped with both ids, would
// exceed the limit, for every kind, across the limit, and the zero Member.
func TestCheck(t *testing.T) {
	const limit = 1024
	for n := 700; n <= 1000; n += 7 {
		for _, k := range Kinds {
			ev := sampleEvent(k)
			ev.ID, ev.EmitterID = [16]byte{}, [16]byte{}
			long := strings.Repeat("m", n-300)
			switch k {
			case KindInference:
				ev.Inference.ModelID = long
			case KindLifecycle:
				ev.Lifecycle.ModelID = long
			case KindInstanceState:
				ev.InstanceState.DeploymentKey = long
			case KindSetupRun:
				ev.SetupRun.Logs = long
			case KindPrediction:
				ev.Prediction.Attributes = append(ev.Prediction.Attributes, Label{Key: "k", Value: long})
			case KindDownload:
				ev.Download.URL = long
			}
			stamped := ev
			stamped.ID, stamped.EmitterID = [16]byte{1}, [16]byte{1}
			want := error(nil)
			if EncodedSize(&stamped) > limit {
				want = ErrEventTooLarge
			}
			if got := memberOf(&ev).Check(limit); got != want {
				t.Fatalf("kind %v, %d bytes of text, %d stamped: got %v; want %v", k, n, EncodedSize(&stamped), got, want)
			}
		}
	}
	bad := []Event{
		{Inference: Inference{ModelID: "llama\xff"}},
		{Inference: Inference{ModelContainerID: "\xc3"}},
		{Inference: Inference{Backend: "v\xedllm"}},
		{Kind: KindLifecycle, Lifecycle: Lifecycle{ModelID: "m\xff"}},
		{Kind: KindLifecycle, Lifecycle: Lifecycle{Hostname: "h\xfe"}},
		{Kind: KindLifecycle, Lifecycle: Lifecycle{Endpoint: "h\xfe"}},
		{Kind: KindInstanceState, InstanceState: InstanceState{Version: "\xff"}},
		{Kind: KindInstanceState, InstanceState: InstanceState{InstanceMetadata: []Label{{Key: "ok", Value: "\xff"}}}},
		{Kind: KindInstanceState, InstanceState: InstanceState{InstanceMetadata: make([]Label, MaxLabels+1)}},
		{Kind: KindSetupRun, SetupRun: SetupRun{Logs: "\xc3"}},
		{Kind: KindSetupRun, SetupRun: SetupRun{RuntimeMetadata: []Label{{Key: "\xff"}}}},
		{Kind: KindPrediction, Prediction: Prediction{CancelReason: "\xff"}},
		{Kind: KindPrediction, Prediction: Prediction{Attributes: []Label{{Value: "\xff"}}}},
		{Kind: KindDownload, Download: Download{Error: "\xff"}},
	}
	for _, ev := range bad {
		if err := memberOf(&ev).Check(MaxMessageSize); err != ErrInvalidText {
			t.Fatalf("Check(%+v) = %v; want ErrInvalidText", ev, err)
		}
	}
	for _, m := range []Member{{}, InferenceMember(nil), LifecycleMember(nil), InstanceStateMember(nil),
		SetupRunMember(nil), PredictionMember(nil), DownloadMember(nil)} {
		if err := m.Check(MaxMessageSize); err != ErrNoEvent {
			t.Fatalf("Check of the zero Member: %v; want ErrNoEvent", err)
		}
	}
	big := InferenceMember(&Inference{ModelID: strings.Repeat("m", 100)})
	if allocs := testing.AllocsPerRun(100, func() { _ = big.Check(64) }); allocs != 0 {
		t.Fatalf("unexpected allocations; got %v; want 0", allocs)
	}
}

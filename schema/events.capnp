# readout wire schema.
#
# Field names are a public contract (see docs/wire-format.md): tools outside
# this repository read and write them. Fields may be added with new ordinals;
# none may be renamed, renumbered or retyped.
#
# Conventions: durations are unsigned microseconds, wall-clock instants are
# signed nanoseconds since the Unix epoch (UTC). A field that does not apply is
# left at its zero value, which Cap'n Proto does not even store.

@0xfad83de5065c9635;

using Go = import "/go.capnp";
$Go.package("schema");
$Go.import("github.com/readout-dev/readout/schema");

# Event is the envelope of every message an emitter writes to the forwarder:
# one Event per Cap'n Proto message, in standard stream framing.
struct Event {
  id @0 :Data;
  # 16-byte UUIDv7 naming this event. Never empty for events written by the
  # readout emitter; other writers may leave it empty.

  timestampNs @1 :Int64;
  # Event time, Unix nanoseconds: when the request started. Aggregation
  # windows are chosen by this field.

  emitterId @2 :Data;
  # 16 bytes, a fresh random UUID per emitter instance (per process start).
  # Empty means "anonymous": the event is counted but cannot be replayed,
  # deduplicated or audited.

  seq @3 :UInt64;
  # Per emitter: 1, 2, 3, ... over every event offered to Emit, dropped ones
  # included, so that a gap in received seqs is either a reported drop or a
  # loss. 0 only for anonymous events.

  droppedTotal @4 :UInt64;
  # How many events this emitter had dropped (with seqs below this one) when
  # this event was queued. Carried in-band so the collector can tell drops
  # from losses.

  union {
    inference @5 :InferenceEvent;
    # One inference request.

    lifecycle @6 :LifecycleEvent;
    # An endpoint appeared or disappeared.

    closed @7 :Void;
    # The emitter's last message, written by Close: `seq` is then the last
    # seq it ever assigned and `droppedTotal` its final drop count. It is not
    # an event and is never counted as one; it completes the audit.

    instanceState @8 :InstanceStateEvent;
    # How a model instance spent one reporting interval.

    setupRun @9 :SetupRunEvent;
    # A model instance's setup ended (ready, failed or timed out).

    prediction @10 :PredictionEvent;
    # A prediction reached its terminal state.

    download @11 :DownloadEvent;
    # A file download (weights, inputs) finished or failed.
  }
}

# Where a request entered the platform.
enum RequestSource {
  unknown @0;
  worker @1;   # a Workers binding
  pages @2;    # a Pages binding
  restApi @3;  # the public REST API
}

# One inference request, as the serving process saw it.
struct InferenceEvent {
  accountId @0 :UInt64;
  # The customer account billed for the request. 0 when unknown.

  modelId @1 :Text;
  # Model name, e.g. "@cf/meta/llama-3.1-8b-instruct". Empty when unknown.

  requestTimeUs @2 :UInt64;
  # Wall time from the request's arrival to its last byte sent, microseconds.

  inferenceTimeUs @3 :UInt64;
  # Time spent running the model, microseconds. 0 when the request never
  # reached the model (rejected, failed while queued).

  queuingTimeUs @4 :UInt64;
  # Time spent waiting in the local queue for a free slot, microseconds.
  # 0 when a slot was free at once.

  timeToFirstTokenUs @5 :UInt64;
  # Time from arrival to the first streamed token, microseconds.
  # 0 when the response was not streamed.

  neurons @6 :Float64;
  # Billing cost of the request in neurons. 0 for free or failed requests.

  errorCode @7 :UInt32;
  # Internal error code. 0 means success.

  httpStatus @8 :UInt16;
  # HTTP status returned to the caller. 0 when no response was sent.

  coloId @9 :UInt32;
  # Data centre that ran the inference. 0 when unknown.

  sourceColoId @10 :UInt32;
  # Data centre where the request entered; differs from coloId when the
  # request was forwarded. 0 when unknown.

  localQueueSize @11 :UInt32;
  # Requests waiting in the local queue when this one arrived (not counting
  # itself). 0 when the queue was empty.

  modelContainerId @12 :Text;
  # The container instance that served the request. Empty when unknown.

  requestSource @13 :RequestSource;
  # Where the request entered the platform; `unknown` when not known.

  streamed @14 :Bool;
  # The response was streamed token by token.

  beta @15 :Bool;
  # The model is in beta (not billed the same way).

  externalEndpoint @16 :Bool;
  # The request was served by an endpoint outside the platform.

  queuedInColo @17 :Bool;
  # The request waited in a colo-level queue before reaching this server.

  unixSocket @18 :Bool;
  # The request arrived over a Unix socket rather than TCP.

  backend @19 :Text;
  # Serving backend: "triton", "tgi", "vllm", ... Empty when unknown.

  inputTokens @20 :UInt32;
  # Prompt tokens consumed. 0 for models that do not count tokens.

  outputTokens @21 :UInt32;
  # Tokens generated. 0 for models that do not generate tokens.
}

enum LifecycleEventType {
  endpoint @0;
  # A model endpoint became available (beginTs) or went away (endTs).
}

# A change in what the platform can serve, e.g. an endpoint appearing.
struct LifecycleEvent {
  beginTs @0 :Int64;
  # When the subject appeared, Unix nanoseconds.

  endTs @1 :Int64;
  # When it disappeared, Unix nanoseconds. 0 while it is still present.

  eventType @2 :LifecycleEventType;
  # What kind of subject this is.

  modelId @3 :Text;
  # The model the endpoint serves. Empty when not model-specific.

  hostname @4 :Text;
  # Host that observed the change. Empty when unknown.

  endpoint @5 :Text;
  # The endpoint's address, e.g. "10.0.0.7:8080", so that two endpoints of
  # one model on one host differ. Empty when not an endpoint.
}

# A key and value, for metadata that has no field of its own.
struct Label {
  key @0 :Text;
  value @1 :Text;
}

# How one model instance spent one reporting interval. The three state times
# add up to the interval exactly; integrals travel rather than ratios, so that
# reports add up over instances and windows and utilization is derived at the
# end. The event's timestampNs is intervalEndNs.
struct InstanceStateEvent {
  intervalStartNs @0 :Int64;
  # Start of the interval, Unix nanoseconds.

  intervalEndNs @1 :Int64;
  # End of the interval, Unix nanoseconds; after intervalStartNs.

  activeNs @2 :UInt64;
  # Time with at least one prediction running.

  bootNs @3 :UInt64;
  # Time before setup ended.

  idleNs @4 :UInt64;
  # Time set up and running nothing. activeNs + bootNs + idleNs equals
  # intervalEndNs - intervalStartNs.

  concurrencyNs @5 :UInt64;
  # The integral of the number of running predictions over the interval:
  # mean concurrency is concurrencyNs / (intervalEndNs - intervalStartNs).

  deploymentKey @6 :Text;
  # The deployment the instance serves.

  dockerImageUri @7 :Text;
  # The image the instance runs.

  hardware @8 :Text;
  # Hardware class, e.g. "gpu-a100-large".

  computeUnit @9 :Text;
  # What the instance is billed in, e.g. "gpu".

  instanceId @10 :Text;
  # This instance, unique within the platform.

  version @11 :Text;
  # The model version the instance serves.

  computeUnitCount @12 :UInt32;
  # How many compute units the instance holds.

  instanceMetadata @13 :List(Label);
  # Anything else the platform attaches to the instance.
}

enum SetupStatus {
  unknown @0;
  ready @1;    # setup succeeded; the instance can take predictions
  failed @2;   # setup exited with an error
  timeout @3;  # setup did not finish in its allotted time
}

# One instance's setup run, reported once when it ends.
struct SetupRunEvent {
  status @0 :SetupStatus;

  scheduledAtNs @1 :Int64;
  # When the instance was scheduled, Unix nanoseconds; 0 when unknown.

  startedAtNs @2 :Int64;
  # When setup started, Unix nanoseconds.

  completedAtNs @3 :Int64;
  # When setup ended (or was given up on), Unix nanoseconds.

  logs @4 :Text;
  # The last 20 KiB of setup output, cut on a UTF-8 boundary.

  logsDroppedBytes @5 :UInt64;
  # Bytes of setup output not kept in logs.

  deploymentKey @6 :Text;
  instanceId @7 :Text;
  instanceMetadata @8 :List(Label);
  runtimeMetadata @9 :List(Label);
  # E.g. the versions of the runtime's parts.
}

enum PredictionStatus {
  processing @0;
  succeeded @1;
  failed @2;
  canceled @3;   # the caller canceled it
  aborted @4;    # the platform gave up on it (instance lost, deadline)
}

# One prediction, reported once at its terminal state.
struct PredictionEvent {
  predictionId @0 :Text;
  deploymentKey @1 :Text;
  version @2 :Text;

  errorCode @3 :Text;
  # The platform's error code, e.g. "E1234"; empty on success.

  cancelReason @4 :Text;
  # Why a canceled or aborted prediction ended; empty otherwise.

  status @5 :PredictionStatus;

  createdAtNs @6 :Int64;
  # When the prediction was created, Unix nanoseconds.

  startedAtNs @7 :Int64;
  # When it started running, Unix nanoseconds; 0 if it never did.

  completedAtNs @8 :Int64;
  # When it reached its terminal state, Unix nanoseconds.

  inputTokens @9 :UInt32;
  outputTokens @10 :UInt32;
  imageCount @11 :UInt32;
  # Billing counts; 0 where the model does not count them.

  attributes @12 :List(Label);
  # Compliance and moderation outcomes and the like.
}

# One reported download.
struct DownloadEvent {
  url @0 :Text;
  # Normalised: for Hugging Face and S3-presigned URLs the query string and
  # fragment are removed.

  host @1 :Text;
  # The URL's host.

  sizeBytes @2 :UInt64;
  durationUs @3 :UInt64;
  bytesPerSecond @4 :Float64;

  error @5 :Text;
  # Empty on success.

  instanceId @6 :Text;
  # The instance that downloaded.
}

# Forwarder to emitter, on the emitter's own connection: the forwarder's
# acknowledgement. One Ack per Cap'n Proto message, standard stream framing.
# Acks are cumulative and may be coalesced; an emitter keeps only the newest.
struct Ack {
  durableSeq @0 :UInt64;
  # Every event this connection carried with seq <= durableSeq is durable in
  # the forwarder's spool; the emitter may forget them. 0 before the first.

  closed @1 :Bool;
  # The emitter's `closed` message is durable too; the emitter may hang up.
}

# Forwarder to collector: one Batch per HTTP request body
# (POST /v1/batches, Content-Type: application/x-capnp).
struct Batch {
  forwarderId @0 :Data;
  # 16-byte UUID of the forwarder, created once and kept in its spool
  # directory.

  batchSeq @1 :UInt64;
  # Per forwarder: 1, 2, 3, ... assigned when the batch is sealed in the
  # spool and never reused, so a re-sent batch has the same (forwarderId,
  # batchSeq) and the same content.

  createdNs @2 :Int64;
  # When the batch was sealed, Unix nanoseconds.

  eventCount @3 :UInt32;
  # Number of messages in `events`.

  events @4 :Data;
  # The Event messages exactly as the emitters wrote them, each in standard
  # Cap'n Proto stream framing, back to back. Keeping the emitters' bytes
  # spares the forwarder a re-encode and lets the collector verify them.
}

/*  cw_bench.h - the subcommands of cw-bench. Each takes the arguments after its name
 *  (argv [0] is the subcommand) and returns a process exit code. */
#ifndef CW_BENCH_H_INCLUDED
#define CW_BENCH_H_INCLUDED

/*  IMU feature extraction speed: step detection over a large synthetic buffer. */
int cw_bench_features (int argc, char **argv);

/*  The ingest pipeline end to end: a real coachwired child process, N CURVE devices sending
 *  sealed IMU frames; throughput, ack latency, CPU per stage, and raw CURVE PUSH/PULL. */
int cw_bench_ingest (int argc, char **argv);

/*  The coaching engine in the moment: a real coachwired child process, runners whose cadence
 *  stays low until cadence_low fires, IMU load from other phones; frame-to-nudge latency. */
int cw_bench_nudge (int argc, char **argv);

/*  Many devices on one service, each paced (20,000 and more): connect time, ack latency,
 *  service CPU and memory per connection; with --unknown/--raw a storm of strangers, with
 *  --restart the reconnection time, with --interval a soak series. */
int cw_bench_connections (int argc, char **argv);

#endif

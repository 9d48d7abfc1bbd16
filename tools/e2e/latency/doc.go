// Package latency measures, against a running mxgate cluster, the time from
// the end of DATA to the edge's final reply: the filtering and in-line
// delivery cost a sending MTA waits for. It only has a test, run on demand.
package latency

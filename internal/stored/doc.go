// Package stored reads back what Flurry keeps in JetStream so that a
// component whose NATS credentials are in hostile hands cannot plant a
// value in a bucket it may not write.
//
// JetStream answers an API request on whatever reply subject the
// requester names, and a stream stores an answer that lands on one of
// its subjects like any other message. So an invoker or gateway
// credential could ask for a message it chose (a record, a code chunk)
// and name a bucket's subject as the reply, writing it there although
// its role may not publish to any bucket. Two rules close that
// (docs/adr/019-nats-credentials.md, "Answers on any subject"):
//
//   - The roles that may not write buckets have no direct get, whose
//     answers are the stored message verbatim. They read with the
//     stream leader's message get (LastMsg, Msg), whose answers are
//     wrapped in a JetStream API response.
//   - Every reader of a bucket decodes with Decode, which refuses a
//     value that is a JetStream answer: an API response, or the
//     acknowledgement of a publish (which also goes to any reply).
//
// Consumers' deliveries do not land in a stream, so they need no rule.
package stored

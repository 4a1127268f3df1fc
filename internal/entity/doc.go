// Package entity defines the stored entities that the controller writes and
// the invoker reads: actions (with their limits and exec description) and
// API keys. Types here are plain data with JSON encodings and validation;
// the package does no I/O.
package entity

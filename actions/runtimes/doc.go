// Package runtimes knows Flurry's own runtime images: their names and how
// to build them. There is no registry to pull from, so an image is built
// locally from the flurry executable itself, which serves as the
// in-container action proxy ("flurry proxy"); the image is tagged by the
// executable's content so a changed binary gets a new image.
//
// Main functions: Image (the tag of a kind's image), BuildContext (a
// Docker build context as a tar stream) and IsStatic (whether an
// executable can run in a scratch image).
//
// This package must not talk to Docker or any engine: the container
// runtime (invoker/container/docker) builds and runs images.
package runtimes

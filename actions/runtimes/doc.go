// Package runtimes knows Flurry's own runtime images: their names and how
// to build them. There is no registry to pull from, so an image is built
// locally from the flurry executable itself, which serves as the
// in-container action proxy ("flurry proxy"); the image is tagged by the
// content it is made of, so a changed binary gets a new image and an
// unchanged one is never rebuilt.
//
// The go kind's image is FROM scratch plus the executable. The python:3
// and nodejs kinds build on a base image (flurry/base-python,
// flurry/base-nodejs, tagged by the hash of their recipe: Debian suite,
// packages, mmdebstrap options) whose root file system mmdebstrap makes
// from Debian's packages; the runtime image adds the executable, run as
// `flurry proxy --language python|nodejs`, which carries the launchers.
//
// Main functions: Image (the tag of a kind's image), BuildContext (its
// Docker build context as a tar stream), BaseImage, Rootfs (runs
// mmdebstrap into a cache dir) and BaseBuildContext for the base images,
// HostSources (this machine's apt sources for the suite) and IsStatic
// (whether an executable can run in a scratch image).
//
// This package must not talk to Docker or any engine: the container
// runtime (invoker/container/docker) builds and runs images; cmd/flurry
// puts the two together. It never names a package mirror: mmdebstrap gets
// the machine's own apt sources.
package runtimes

module github.com/flurryfn/flurry/actions/examples

go 1.26.8

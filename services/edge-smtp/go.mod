module github.com/mxgate/mxgate/services/edge-smtp

go 1.26.8

require github.com/mxgate/mxgate/proto v0.0.0

replace github.com/mxgate/mxgate/proto => ../../proto

module github.com/stt-go/stt

go 1.26.0

require (
	github.com/flynn/noise v1.1.0
	github.com/klauspost/cpuid/v2 v2.4.2
	go.uber.org/goleak v1.3.0
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)

require github.com/prometheus/client_golang v1.25.0 // indirect

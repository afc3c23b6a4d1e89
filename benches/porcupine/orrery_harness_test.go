// A harness that times porcupine on one history file with porcupine's own parsers and models
// (parseJepsenLog / etcdModel and parseKvLog / kvModel from porcupine_test.go), for the
// side-by-side measurement in benches/porcupine.sh. It is copied into a checkout of porcupine
// (package porcupine) and never committed there; it is Orrery's code, not porcupine's.
//
//	ORRERY_HARNESS_FILE=path ORRERY_HARNESS_KIND=etcd|kv go test -run TestOrreryHarness
//
// prints one line: RESULT verdict=... parse_ms=... parse_cpu_ms=... check_ms=... check_cpu_ms=...
package porcupine

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

func TestOrreryHarness(t *testing.T) {
	file := os.Getenv("ORRERY_HARNESS_FILE")
	kind := os.Getenv("ORRERY_HARNESS_KIND")
	if file == "" {
		t.Skip("ORRERY_HARNESS_FILE not set: run through benches/porcupine.sh")
	}
	wallStart, cpuStart := time.Now(), cpuTime()
	var events []Event
	var model Model
	switch kind {
	case "etcd":
		events, model = parseJepsenLog(file), etcdModel
	case "kv":
		events, model = parseKvLog(file), kvModel
	default:
		t.Fatalf("ORRERY_HARNESS_KIND must be etcd or kv, not %q", kind)
	}
	parseWall, parseCpu := time.Since(wallStart), cpuTime()-cpuStart
	wallStart, cpuStart = time.Now(), cpuTime()
	ok := CheckEvents(model, events)
	checkWall, checkCpu := time.Since(wallStart), cpuTime()-cpuStart
	verdict := "linearizable"
	if !ok {
		verdict = "not-linearizable"
	}
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	fmt.Printf("RESULT verdict=%s events=%d parse_ms=%.3f parse_cpu_ms=%.3f check_ms=%.3f check_cpu_ms=%.3f\n",
		verdict, len(events), ms(parseWall), ms(parseCpu), ms(checkWall), ms(checkCpu))
}

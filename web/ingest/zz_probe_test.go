package ingest

import (
	"strings"
	"testing"
	"time"
)

func TestZZProbeTiming(t *testing.T) {
	inputs := map[string]string{
		"many labels bad":  `[{"labels":{` + strings.Repeat(`"a":1,`, 100000) + `"b":2}}]`,
		"many members bad": `[{` + strings.Repeat(`"startsAt":"x",`, 100000) + `"labels":{}}]`,
		"deep":             `[{"labels":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}]`,
		"many elems bad":   `[` + strings.Repeat(`{"labels":{"a":1},"startsAt":"x"},`, 50000) + `{}]`,
		"webhook many":     `{"version":"4","alerts":[` + strings.Repeat(`{"status":"x","labels":{"a":1},"startsAt":"x"},`, 50000) + `{}]}`,
		"webhook members":  `{` + strings.Repeat(`"receiver":1,`, 100000) + `"version":"4"}`,
	}
	for name, in := range inputs {
		start := time.Now()
		_, err1 := DecodeAPIv2(strings.NewReader(in), time.Now(), time.Minute)
		_, err2 := DecodeAlertmanagerWebhook(strings.NewReader(in), time.Now(), time.Minute)
		t.Logf("%s (%d bytes): %v\n  %.200v\n  %.200v", name, len(in), time.Since(start), err1, err2)
	}
}

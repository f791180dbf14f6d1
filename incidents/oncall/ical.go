package oncall

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// icalTime is RFC 5545's UTC DATE-TIME form; UTC keeps every calendar
// client right without shipping VTIMEZONE definitions.
const icalTime = "20060102T150405Z"

// WriteICal writes shifts as an RFC 5545 calendar for user: one VEVENT per
// shift, lines ending in CRLF and folded at 75 octets. now is the DTSTAMP.
func WriteICal(w io.Writer, user string, list []Shift, now time.Time) error {
	bw := bufio.NewWriter(w)
	line := func(name, value string) { writeFolded(bw, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//Klaxon//On-call shifts//EN")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	line("X-WR-CALNAME", escapeText("On call: "+user))
	stamp := now.UTC().Format(icalTime)
	for _, s := range list {
		why := "rotation " + s.Rotation
		if s.OverrideID != 0 {
			why = fmt.Sprintf("override %d", s.OverrideID)
		}
		line("BEGIN", "VEVENT")
		// The UID names the shift by what cannot change about it, so a
		// calendar updates an event whose end moved instead of adding one.
		line("UID", fmt.Sprintf("%s-%s-%d-%s@klaxon", s.Schedule, s.User, s.Start.Unix(), strings.ReplaceAll(why, " ", "-")))
		line("DTSTAMP", stamp)
		line("DTSTART", s.Start.UTC().Format(icalTime))
		line("DTEND", s.End.UTC().Format(icalTime))
		line("SUMMARY", escapeText("On call: "+s.Schedule))
		line("DESCRIPTION", escapeText(fmt.Sprintf("%s is on call for schedule %s (%s).", s.User, s.Schedule, why)))
		line("TRANSP", "TRANSPARENT")
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	return bw.Flush()
}

// escapeText escapes a TEXT value (RFC 5545 3.3.11).
func escapeText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`).Replace(s)
}

// writeFolded writes one content line, folded so that no line is longer
// than 75 octets without its CRLF (RFC 5545 3.1). Folds never split a
// UTF-8 sequence.
func writeFolded(w *bufio.Writer, l string) {
	limit := 75
	for len(l) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(l[cut]) {
			cut--
		}
		w.WriteString(l[:cut])
		w.WriteString("\r\n ")
		l = l[cut:]
		limit = 74 // the leading space counts
	}
	w.WriteString(l)
	w.WriteString("\r\n")
}

package b2bua

import (
	"path/filepath"

	"github.com/xbridge/xbridge/routing"
)

// Recording statuses a call record carries.
const (
	recordingDone      = "recorded"
	recordingTruncated = "truncated"
	recordingFailed    = "failed"
)

// WithRecordings records the answered calls whose binding says record,
// or whose pool records every call (poolRecords, nil: none), into dir as
// <record id>.wav (the directory must exist). Recording needs the call
// records of WithEvents: a recording is found by its record.
func WithRecordings(dir string, poolRecords func(pool string) bool) Option {
	return func(e *Engine) { e.recordDir, e.poolRecords = dir, poolRecords }
}

// RecordingPath is where the engine writes the recording of the call
// record id.
func RecordingPath(dir, id string) string { return filepath.Join(dir, id+".wav") }

// recordsCall says whether a call routed by dec is to be recorded.
func (e *Engine) recordsCall(dec routing.Decision) bool {
	if e.recordDir == "" || e.events == nil {
		return false
	}
	pool := dec.Binding.Pool
	if pool == "" {
		pool = dec.Pool
	}
	return dec.Binding.Policy.Record || e.poolRecords != nil && e.poolRecords(pool)
}

// startRecording starts the call's recording at its answer, if it has one
// to make. A recording that cannot start leaves the call alone and the
// record says so.
func (c *call) startRecording() {
	if !c.recorded || c.rec != nil || c.track == nil {
		return
	}
	rec, err := c.media.Record(RecordingPath(c.e.recordDir, c.track.ID()))
	if err != nil {
		c.log.Warn().Err(err).Msg("call not recorded")
		c.track.SetRecording(recordingFailed, err.Error())
		c.recorded = false
		return
	}
	c.rec = rec
}

// stopRecording ends the call's recording before its release is written,
// so the record says how it went.
func (c *call) stopRecording() {
	if c.rec == nil {
		return
	}
	res := c.rec.Stop()
	c.rec = nil
	status := recordingDone
	switch {
	case res.Path == "":
		status = recordingFailed
	case res.Truncated:
		status = recordingTruncated
	}
	if status != recordingDone || res.Note != "" {
		c.log.Warn().Str("recording", status).Str("note", res.Note).Msg("call recording incomplete")
	}
	c.track.SetRecording(status, res.Note)
}

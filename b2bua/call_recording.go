package b2bua

import (
	"path/filepath"

	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
)

// Recording statuses a call record carries.
const (
	recordingDone      = "recorded"
	recordingTruncated = "truncated"
	recordingFailed    = "failed"
)

// RecordingPolicy is a pool's part in recording: record every call, and
// play the call-recorded notice first.
type RecordingPolicy struct {
	All, Notice bool
}

// WithRecordings records the answered calls whose binding says record,
// or whose pool records every call (pools, nil: none does), into dir as
// <record id>.wav (the directory must exist). Recording needs the call
// records of WithEvents: a recording is found by its record.
func WithRecordings(dir string, pools func(pool string) RecordingPolicy) Option {
	return func(e *Engine) { e.recordDir, e.poolRecords = dir, pools }
}

// RecordingPath is where the engine writes the recording of the call
// record id.
func RecordingPath(dir, id string) string { return filepath.Join(dir, id+".wav") }

// recordsCall says whether a call of pool whose binding says record (or
// not) is to be recorded, and whether the parties hear the notice first.
// It is asked at the answer: only answered calls read the pool's settings.
func (e *Engine) recordsCall(pool string, bindingRecords bool) (record, notice bool) {
	if e.recordDir == "" || e.events == nil {
		return false, false
	}
	var p RecordingPolicy
	if e.poolRecords != nil {
		p = e.poolRecords(pool)
	}
	record = bindingRecords || p.All
	return record, record && p.Notice
}

// startRecording starts the call's recording at its answer, if it has one
// to make. A recording that cannot start leaves the call alone and the
// record says so.
func (c *call) startRecording() {
	if c.rec != nil || c.track == nil {
		return
	}
	record, notice := c.e.recordsCall(c.pool, c.bindingRecords)
	if !record {
		return
	}
	rec, err := c.media.Record(RecordingPath(c.e.recordDir, c.track.ID()))
	if err != nil {
		c.log.Warn().Err(err).Msg("call not recorded")
		c.track.SetRecording(recordingFailed, err.Error())
		return
	}
	c.rec = rec
	if notice {
		c.playNotice()
	}
}

// playNotice plays the call-recorded prompt to both parties in place of
// each other's audio: until it ends they hear the notice, not each other.
// A notice that cannot play is logged; the call goes on recorded.
func (c *call) playNotice() {
	if c.e.prompts == nil {
		c.log.Warn().Msg("recording notice not played: the engine has no prompts")
		return
	}
	sound, err := c.e.prompts.Sound(c.pool, ivr.PromptRecorded)
	if err != nil {
		c.log.Warn().Err(err).Msg("recording notice not played")
		return
	}
	for _, side := range []media.Side{media.SideA, media.SideB} {
		if _, err := c.media.Play(side, sound, media.Replace()); err != nil {
			c.log.Warn().Err(err).Stringer("side", side).Msg("recording notice not played")
		}
	}
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

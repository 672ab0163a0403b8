package events

// AppendPayloadForTest is appendPayload, for the external tests.
var AppendPayloadForTest = appendPayload

var AppendUTCMilliForTest = appendUTCMilli

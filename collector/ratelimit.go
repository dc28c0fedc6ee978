package collector

import "time"

// logEvery is the least time between two log lines of the same kind for
// errors that can repeat per batch or per event (see package lograte).
const logEvery = 10 * time.Second

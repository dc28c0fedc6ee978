package parquetcheck

// What the external tests (package parquetcheck_test, which builds its
// sample files with package table, itself a user of this package) need of
// the unexported parts.
var WalkThrift = walkThrift

const MaxRowsPerByte = maxRowsPerByte

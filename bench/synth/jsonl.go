package synth

import (
	"bufio"
	"fmt"
	"io"
)

// WriteJSONL writes the records' values one per line (JSON Lines), the
// input of `kairos produce`. Bad records are written as they are, so an
// invalid_json record makes an invalid line; values never contain a
// newline.
func WriteJSONL(w io.Writer, recs []Record) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range recs {
		bw.Write(recs[i].Value)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: write JSON lines: %w", err)
	}
	return nil
}

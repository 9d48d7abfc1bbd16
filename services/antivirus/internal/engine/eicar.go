package engine

import (
	"bytes"
	"strings"
)

// The EICAR anti-malware test file is joined from pieces at run time (not a
// constant the compiler would fold) so that neither this source file nor
// the binary is itself detected by scanners.
var eicar = []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, `EICAR-STANDARD-`, `ANTIVIRUS-`, `TEST-FILE!$H+H*`}, ""))

// EICARSignature is the signature name the built-in engine reports for the
// EICAR test file (the name ClamAV uses).
const EICARSignature = "Eicar-Test-Signature"

// EICARTestFile returns a copy of the 68-byte EICAR test string, for
// self-tests of the scanning chain.
func EICARTestFile() []byte { return bytes.Clone(eicar) }

// isEICAR reports whether data is the EICAR test file as its definition
// allows: the 68-byte string first, then only whitespace (space, tab, CR,
// LF, Ctrl-Z), at most 128 bytes in all.
func isEICAR(data []byte) bool {
	if len(data) < len(eicar) || len(data) > 128 || !bytes.HasPrefix(data, eicar) {
		return false
	}
	for _, c := range data[len(eicar):] {
		switch c {
		case ' ', '\t', '\r', '\n', 0x1a:
		default:
			return false
		}
	}
	return true
}

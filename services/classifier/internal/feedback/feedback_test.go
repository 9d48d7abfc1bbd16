package feedback

import (
	"slices"
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/fingerprint"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	"github.com/mxgate/mxgate/services/classifier/internal/textextract"
)

const spamBody = "\r\nLowest mortgage rates in years! Refinance today and save thousands on your monthly payments.\r\n" +
	"Apply now at http://www.cheap-loans.example/apply?id=42 before the offer ends.\r\n"

// listFooter is what a mailing-list manager appends to every message.
const listFooter = "_______________________________________________\r\n" +
	"Talk mailing list\r\nhttp://lists.project.example/mailman/listinfo/talk\r\n"

func kinds(fps []fingerprint.FP) []fingerprint.Kind {
	var out []fingerprint.Kind
	for _, fp := range fps {
		if !slices.Contains(out, fp.Kind) {
			out = append(out, fp.Kind)
		}
	}
	slices.Sort(out)
	return out
}

// TestReportedKinds: a report adds the text's digests, and for spam its
// attachments; never its links, whoever reports it and however the
// message came.
func TestReportedKinds(t *testing.T) {
	direct := textextract.Parse([]byte("From: offers@cheap-loans.example\r\nSubject: rates\r\n" + spamBody))
	viaList := textextract.Parse([]byte("From: offers@cheap-loans.example\r\nSubject: rates\r\n" +
		"List-Id: Talk <talk.lists.project.example>\r\nList-Post: <mailto:talk@lists.project.example>\r\n" +
		spamBody + listFooter))
	withAttachment := textextract.Parse([]byte("From: offers@cheap-loans.example\r\nSubject: rates\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n" + spamBody +
		"--b\r\nContent-Type: application/octet-stream; name=offer.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"))
	text := []fingerprint.Kind{fingerprint.KindExact, fingerprint.KindFuzzy}
	withFile := []fingerprint.Kind{fingerprint.KindExact, fingerprint.KindFuzzy, fingerprint.KindAttachment}
	slices.Sort(withFile)
	if got := kinds(fingerprint.Of(direct)); !slices.Contains(got, fingerprint.KindURL) || !slices.Contains(got, fingerprint.KindURLDomain) {
		t.Fatalf("the test message has no link fingerprints to leave out: %v", got)
	}
	for _, tc := range []struct {
		name  string
		msg   *textextract.Message
		class fpdb.Class
		want  []fingerprint.Kind
	}{
		{"spam", direct, fpdb.ClassSpam, text},
		{"ham", direct, fpdb.ClassHam, text},
		{"spam via a list", viaList, fpdb.ClassSpam, text},
		{"spam with an attachment", withAttachment, fpdb.ClassSpam, withFile},
		{"ham with an attachment", withAttachment, fpdb.ClassHam, text},
	} {
		if got := kinds(reported(tc.msg, tc.class)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: kinds %v, want %v", tc.name, got, tc.want)
		}
	}
}

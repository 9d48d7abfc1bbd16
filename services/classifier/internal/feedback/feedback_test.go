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

func TestReportedKinds(t *testing.T) {
	direct := textextract.Parse([]byte("From: offers@cheap-loans.example\r\nSubject: rates\r\n" + spamBody))
	viaList := textextract.Parse([]byte("From: offers@cheap-loans.example\r\nSubject: rates\r\n" +
		"List-Id: Talk <talk.lists.project.example>\r\nList-Post: <mailto:talk@lists.project.example>\r\n" +
		spamBody + listFooter))
	withUnsubscribe := textextract.Parse([]byte("From: offers@cheap-loans.example\r\nSubject: rates\r\n" +
		"List-Unsubscribe: <http://www.cheap-loans.example/remove>\r\n" + spamBody))
	text := []fingerprint.Kind{fingerprint.KindExact, fingerprint.KindFuzzy}
	links := []fingerprint.Kind{fingerprint.KindExact, fingerprint.KindFuzzy, fingerprint.KindURL}
	all := []fingerprint.Kind{fingerprint.KindExact, fingerprint.KindFuzzy, fingerprint.KindURLDomain, fingerprint.KindURL}
	slices.Sort(links)
	slices.Sort(all)
	for _, tc := range []struct {
		name    string
		msg     *textextract.Message
		class   fpdb.Class
		trusted bool
		want    []fingerprint.Kind
	}{
		{"user spam", direct, fpdb.ClassSpam, false, links},
		{"operator spam", direct, fpdb.ClassSpam, true, all},
		{"user ham", direct, fpdb.ClassHam, false, text},
		{"operator ham", direct, fpdb.ClassHam, true, text},
		// The list's own links must not become spam fingerprints.
		{"user spam via a list", viaList, fpdb.ClassSpam, false, text},
		{"operator spam via a list", viaList, fpdb.ClassSpam, true, text},
		{"List-Unsubscribe alone is not a list", withUnsubscribe, fpdb.ClassSpam, true, all},
	} {
		if got := kinds(reported(tc.msg, tc.class, tc.trusted)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: kinds %v, want %v", tc.name, got, tc.want)
		}
	}
}

package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// mailData is the data of a publish through an smtp connector: the payload of Kaa's
// email-notification automation. Other fields are ignored, so that a payload carrying more
// (an endpoint, a tenant) is sent as it comes.
type mailData struct {
	Recipient json.RawMessage `json:"recipient"`
	Sender    string          `json:"sender"`
	Subject   string          `json:"subject"`
	Message   *string         `json:"message"`
}

// mailMessage is an e-mail ready to be sent.
type mailMessage struct {
	from      *mail.Address
	to        []*mail.Address
	subject   string
	body      string
	messageID string // without its angle brackets
	utf8      bool   // an address is not ASCII: the server must take SMTPUTF8
}

// Bounds of an e-mail's parts.
const (
	maxMailSubjectBytes = 500 // one header line, even Q-encoded words folded
	maxMailAddressBytes = 320 // 64 of local part, @, 255 of domain
)

// parseMail is the e-mail m's data says, to the recipient argument if given, from def when
// the data names no sender; what it cannot take is an *ArgError naming the field.
func parseMail(m Outgoing, def *mail.Address, limit int) (*mailMessage, error) {
	const shape = `want a JSON object {"recipient": "a@example.com" or a list, "sender": …, "subject": …, "message": …}`
	var d mailData
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return nil, &ArgError{Arg: "data", Reason: shape + ": " + err.Error()}
	}
	ml := &mailMessage{from: def, subject: d.Subject}
	var err error
	if m.To != "" {
		ml.to, err = parseRecipientList(m.To, limit)
		if err != nil {
			return nil, &ArgError{Arg: "recipient", Reason: err.Error()}
		}
	} else if ml.to, err = parseRecipients(d.Recipient, limit); err != nil {
		return nil, &ArgError{Arg: "data.recipient", Reason: err.Error()}
	}
	if d.Sender != "" {
		if ml.from, err = parseMailAddress(d.Sender); err != nil {
			return nil, &ArgError{Arg: "data.sender", Reason: err.Error()}
		}
	}
	if ml.from == nil {
		return nil, &ArgError{Arg: "data.sender", Reason: "required: the connector's config has no from"}
	}
	if err := checkHeaderText(d.Subject, maxMailSubjectBytes); err != nil {
		return nil, &ArgError{Arg: "data.subject", Reason: err.Error()}
	}
	if d.Message == nil {
		return nil, &ArgError{Arg: "data.message", Reason: "required: the text of the message"}
	}
	ml.body = *d.Message
	if !dotAtom(m.ID) {
		return nil, &ArgError{Arg: "id", Reason: "want letters, digits and !#$%&'*+-/=?^_`{|}~ in dot-separated parts, to make a Message-ID"}
	}
	ml.messageID = m.ID + "@" + domainOf(ml.from.Address)
	ml.utf8 = !isASCII(ml.from.Address)
	for _, a := range ml.to {
		ml.utf8 = ml.utf8 || !isASCII(a.Address)
	}
	return ml, nil
}

// parseRecipients are the addresses of a recipient: one string (addresses separated by
// commas) or a list of strings, at most limit.
func parseRecipients(raw json.RawMessage, limit int) ([]*mail.Address, error) {
	const want = `required: an address such as "ops@example.com", or a list of them`
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, errors.New(want)
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return parseRecipientList(s, limit)
	case raw[0] == '[':
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errors.New(want)
		}
		if err := checkRecipientCount(len(list), limit); err != nil {
			return nil, err
		}
		out := make([]*mail.Address, len(list))
		for i, s := range list {
			a, err := parseMailAddress(s)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = a
		}
		return out, nil
	}
	return nil, errors.New(want)
}

// parseRecipientList is one or more addresses separated by commas, at most limit.
func parseRecipientList(s string, limit int) ([]*mail.Address, error) {
	// Counted before parsing: a comma in a quoted name only makes the count larger.
	if err := checkRecipientCount(strings.Count(s, ",")+1, limit); err != nil {
		return nil, err
	}
	if err := checkHeaderText(s, limit*maxMailAddressBytes); err != nil {
		return nil, err
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", clip(s), err)
	}
	return list, nil
}

func checkRecipientCount(n, limit int) error {
	if n > limit {
		return fmt.Errorf("%d recipients, more than the connector's max_recipients, %d", n, limit)
	}
	if n == 0 {
		return errors.New("no recipient")
	}
	return nil
}

// parseMailAddress is one address, such as ops@example.com or Ops <ops@example.com>.
func parseMailAddress(s string) (*mail.Address, error) {
	if err := checkHeaderText(s, maxMailAddressBytes+200); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", clip(s), err)
	}
	if len(a.Address) > maxMailAddressBytes {
		return nil, fmt.Errorf("%q: longer than %d bytes", clip(a.Address), maxMailAddressBytes)
	}
	return a, nil
}

// checkHeaderText refuses what would break out of a header: a line break or NUL (the way
// to add headers of one's own, or a second message), or more than limit bytes.
func checkHeaderText(s string, limit int) error {
	switch {
	case len(s) > limit:
		return fmt.Errorf("longer than %d bytes", limit)
	case strings.ContainsAny(s, "\r\n\x00"):
		return errors.New("contains a line break or NUL, which no header may")
	case !utf8.ValidString(s):
		return errors.New("not UTF-8")
	}
	return nil
}

// render is the message as RFC 5322 and MIME have it, with CRLF line ends: a text/plain
// UTF-8 body, quoted-printable, so that no line is too long and 8-bit text travels anywhere.
func (ml *mailMessage) render(now time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("From", ml.from.String())
	to := make([]string, len(ml.to))
	for i, a := range ml.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ",\r\n "))
	if ml.subject != "" {
		// Encoded words are folded each on a line of its own, so that none passes 998 bytes.
		header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", ml.subject), "?= =?", "?=\r\n =?"))
	}
	header("Message-ID", "<"+ml.messageID+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(ml.body)) //nolint:errcheck // a bytes.Buffer takes everything
	qp.Close()                //nolint:errcheck // as above
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// dotAtom reports whether s can be the left part of a Message-ID (RFC 5322 dot-atom-text).
func dotAtom(s string) bool {
	return s != "" && len(s) <= 128 && s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..") &&
		asciiWord(s, "!#$%&'*+-/=?^_`{|}~.")
}

// domainOf is the part of an address after its last @.
func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

package skyrs

import "bytes"

// LineClass is what SkyPilot's log streamer does with one line of a log.
type LineClass int

const (
	// LineText is a line upstream yields: not a payload.
	LineText LineClass = iota
	// LinePayload is a line upstream skips: a payload.
	LinePayload
	// LineUndecided is a payload whose JSON body is nested deeper than
	// PayloadOptions.MaxDepth: whether upstream's json.loads reaches the
	// recursion limit on it depends on how deep upstream's caller is, which
	// only Python can tell.
	LineUndecided
)

// PayloadOptions carry what of the Python process decides a payload.
type PayloadOptions struct {
	// MaxDepth is the deepest nesting of arrays and objects in a JSON body
	// that the caller knows json.loads parses without RecursionError.
	MaxDepth int
	// IntMaxStrDigits is sys.get_int_max_str_digits(): an integer with more
	// digits makes json.loads raise ValueError. 0 means no limit.
	IntMaxStrDigits int
}

var (
	payloadOpen  = []byte("<sky-payload")
	payloadClose = []byte("</sky-payload>")
)

// ClassifyLogLine says what upstream SkyPilot 0.14.1's log streamer does with
// line, the raw bytes of one line of a log (no '\n' but a final one).
//
// Upstream decodes the line (UTF-8, errors='replace') and asks
// message_utils.decode_payload(line, raise_for_mismatch=False), which takes
// the first match of <sky-payload(.*?)>(.*?)</sky-payload> and calls the line
// a payload when json.loads accepts its second group, else not (ValueError
// and RecursionError are caught). The markers are ASCII and decoding never
// creates, removes or moves an ASCII character (U+FFFD replaces non-ASCII
// bytes only, and '\n' ends every invalid sequence), so the match is found in
// the raw bytes; and json.loads treats every non-ASCII character alike
// (allowed in strings, an error elsewhere), so the body is judged in its raw
// bytes too.
//
// The leftmost match, with both groups lazy, starts at the first
// "<sky-payload": a match starting later would also fit there. Its first
// group ends at the first '>' after the marker as long as "</sky-payload>"
// follows that '>' somewhere; if not, no later '>' has one after it, and
// there is no match at all. The body then runs to the first "</sky-payload>"
// after that '>'. The '.' of the pattern stops at '\n', which a line holds
// only at its end.
func ClassifyLogLine(line []byte, opts PayloadOptions) LineClass {
	open := bytes.Index(line, payloadOpen)
	if open < 0 {
		return LineText
	}
	rest := line[open+len(payloadOpen):]
	gt := bytes.IndexByte(rest, '>')
	if gt < 0 {
		return LineText
	}
	rest = rest[gt+1:]
	end := bytes.Index(rest, payloadClose)
	if end < 0 {
		return LineText
	}
	valid, depth := PythonJSONAccepts(rest[:end], opts.IntMaxStrDigits)
	switch {
	case !valid:
		// A syntax error or an integer too long is ValueError; if the
		// recursion limit came first, RecursionError: caught either way.
		return LineText
	case depth > opts.MaxDepth:
		return LineUndecided
	}
	return LinePayload
}

// PythonJSONAccepts reports whether CPython's json.loads(body.decode('utf-8',
// 'replace')) returns a value rather than raising ValueError, leaving the
// recursion limit aside, and the deepest nesting of arrays and objects it
// would enter (each level is one Py_EnterRecursiveCall in CPython's _json).
// intMaxStrDigits is sys.get_int_max_str_digits() (0: no limit).
//
// The grammar is CPython's _json scanner with json.loads' defaults: RFC 8259
// JSON with the values NaN, Infinity and -Infinity added, strings without
// raw control characters (strict=True), whitespace only ' ', '\t', '\n',
// '\r' around the value and between tokens. A non-ASCII byte stands for a
// character of at least U+0080 (what UTF-8 decoding with 'replace' makes of
// it), which may appear in strings only; so a leading BOM fails, as in
// json.loads. An integer (a number without fraction or exponent) of more than
// intMaxStrDigits digits fails, as int() does.
//
// It parses iteratively, so any nesting costs no Go stack.
func PythonJSONAccepts(body []byte, intMaxStrDigits int) (valid bool, depth int) {
	p := jsonParser{s: body, maxDigits: intMaxStrDigits}
	return p.parse(), p.maxDepth
}

// jsonParser holds the state of PythonJSONAccepts.
type jsonParser struct {
	s         []byte
	i         int
	maxDigits int
	open      []byte // the containers entered: '[' or '{'
	maxDepth  int
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *jsonParser) skipSpace() {
	for p.i < len(p.s) && isJSONSpace(p.s[p.i]) {
		p.i++
	}
}

// next returns the byte at the parser's position, or 0 at the end (0 is a
// control character, which no rule below accepts where it asks for a byte).
func (p *jsonParser) next() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *jsonParser) parse() bool {
	p.skipSpace()
	for {
		// A value starts here.
		switch c := p.next(); c {
		case '[', '{':
			p.open = append(p.open, c)
			p.maxDepth = max(p.maxDepth, len(p.open))
			p.i++
			p.skipSpace()
			if p.next() == closerOf(c) {
				p.i++
				p.open = p.open[:len(p.open)-1]
				break // an empty container is a whole value
			}
			if c == '{' && !p.memberKey() {
				return false
			}
			continue // its first value
		case '"':
			p.i++
			if !p.string() {
				return false
			}
		default:
			if !p.scalar() {
				return false
			}
		}
		// A value ended: close the containers it ends, up to the next value.
		for {
			p.skipSpace()
			if len(p.open) == 0 {
				return p.i == len(p.s)
			}
			top := p.open[len(p.open)-1]
			switch p.next() {
			case closerOf(top):
				p.i++
				p.open = p.open[:len(p.open)-1]
				continue
			case ',':
				p.i++
				p.skipSpace()
				if top == '{' && !p.memberKey() {
					return false
				}
			default:
				return false
			}
			break
		}
	}
}

func closerOf(opener byte) byte {
	if opener == '[' {
		return ']'
	}
	return '}'
}

// memberKey parses `"key" :` and the space after it, at a key's first byte.
func (p *jsonParser) memberKey() bool {
	if p.next() != '"' {
		return false
	}
	p.i++
	if !p.string() {
		return false
	}
	p.skipSpace()
	if p.next() != ':' {
		return false
	}
	p.i++
	p.skipSpace()
	return true
}

// string parses the rest of a string, after its opening quote.
func (p *jsonParser) string() bool {
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false // strict: no raw control character
		case c == '\\':
			if p.i >= len(p.s) {
				return false
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 > len(p.s) {
					return false
				}
				for _, h := range p.s[p.i : p.i+4] {
					if !isHexDigit(h) {
						return false
					}
				}
				// A lone surrogate is accepted, as in CPython.
				p.i += 4
			default:
				return false
			}
		}
	}
	return false // unterminated
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scalar parses a literal or a number.
func (p *jsonParser) scalar() bool {
	for _, word := range [...]string{"null", "true", "false", "NaN", "Infinity", "-Infinity"} {
		if bytes.HasPrefix(p.s[p.i:], []byte(word)) {
			p.i += len(word)
			return true
		}
	}
	// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?, the longest prefix of
	// that form (CPython backtracks over a '.' or an exponent without
	// digits, and what is left then fails where a value has ended).
	if p.next() == '-' {
		p.i++
	}
	digitsStart := p.i
	switch c := p.next(); {
	case c == '0':
		p.i++
	case '1' <= c && c <= '9':
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
		}
	default:
		return false
	}
	integer := true
	if p.i+1 < len(p.s) && p.s[p.i] == '.' && isDigit(p.s[p.i+1]) {
		integer = false
		p.i += 2
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			p.i++
		}
	}
	if c := p.next(); c == 'e' || c == 'E' {
		j := p.i + 1
		if j < len(p.s) && (p.s[j] == '-' || p.s[j] == '+') {
			j++
		}
		if j < len(p.s) && isDigit(p.s[j]) {
			for j < len(p.s) && isDigit(p.s[j]) {
				j++
			}
			integer = false
			p.i = j
		}
	}
	// int() refuses more digits than sys.get_int_max_str_digits(); float()
	// has no such limit.
	return !integer || p.maxDigits <= 0 || p.i-digitsStart <= p.maxDigits
}

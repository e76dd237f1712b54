package filter

// Limits on what a filter may ask of the parser and the evaluator.
const (
	MaxLength  = 4096 // bytes of filter text (and of sort text)
	MaxDepth   = 32   // nested parentheses and "not"s
	MaxInItems = 256  // values in one "in" list
)

// Parse reads a filter. The empty filter (or one of white space) matches every record. Errors are
// *Error values wrapping ErrInvalidFilter.
func Parse(src string) (*Query, error) {
	p, err := newParser(src, "")
	if err != nil {
		return nil, err
	}
	return p.parseQuery()
}

// ParseSort reads a sort parameter: "name, createdAt desc" (the sort by clause without its keywords).
// Empty text gives no sort keys.
func ParseSort(src string) ([]SortField, error) {
	p, err := newParser(src, "sort")
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, nil
	}
	fields, err := p.parseSortFields()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.unexpected("\",\" or the end")
	}
	return fields, nil
}

type parser struct {
	lex   lexer
	tok   token // current token
	depth int
}

func newParser(src, ctx string) (*parser, error) {
	if len(src) > MaxLength {
		return nil, newError(ctx, MaxLength, "longer than %d bytes", MaxLength)
	}
	p := &parser{lex: lexer{src: src, ctx: ctx}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) advance() error {
	tok, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = tok
	return nil
}

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return newError(p.lex.ctx, pos, format, args...)
}

func (p *parser) unexpected(want string) *Error {
	return p.errorf(p.tok.pos, "expected %s, found %s", want, p.tok.describe())
}

// isTrailing reports whether the current token starts a sort, skip or limit clause.
func (p *parser) isTrailing() bool {
	return p.tok.is("sort") || p.tok.is("skip") || p.tok.is("limit")
}

func (p *parser) parseQuery() (*Query, error) {
	q := &Query{}
	if p.tok.kind != tokEOF && !p.isTrailing() {
		pred, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		q.Predicate = pred
	}
	var seenSort, seenSkip, seenLimit bool
	for p.tok.kind != tokEOF {
		at := p.tok
		switch {
		case at.is("sort"):
			if seenSort {
				return nil, p.errorf(at.pos, "sort by is given twice")
			}
			seenSort = true
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.tok.is("by") {
				return nil, p.unexpected(`"by" after "sort"`)
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			fields, err := p.parseSortFields()
			if err != nil {
				return nil, err
			}
			q.Sort = fields
		case at.is("skip"):
			if seenSkip {
				return nil, p.errorf(at.pos, "skip is given twice")
			}
			seenSkip = true
			if err := p.advance(); err != nil {
				return nil, err
			}
			n, err := p.parseCount("skip")
			if err != nil {
				return nil, err
			}
			q.Skip = &n
		case at.is("limit"):
			if seenLimit {
				return nil, p.errorf(at.pos, "limit is given twice")
			}
			seenLimit = true
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.is("none") {
				q.NoLimit = true
				if err := p.advance(); err != nil {
					return nil, err
				}
				continue
			}
			n, err := p.parseCount("limit")
			if err != nil {
				return nil, err
			}
			q.Limit = &n
		default:
			if q.Predicate == nil || seenSort || seenSkip || seenLimit {
				return nil, p.unexpected("sort by, skip, limit or the end")
			}
			return nil, p.unexpected(`"and", "or", sort by, skip, limit or the end`)
		}
	}
	return q, nil
}

// parseCount reads the non-negative integer of a skip or limit clause.
func (p *parser) parseCount(clause string) (int64, error) {
	if p.tok.kind != tokNumber || p.tok.value.Kind() != KindInt || p.tok.value.Int() < 0 {
		if clause == "limit" {
			return 0, p.unexpected(`a non-negative integer or "none" after limit`)
		}
		return 0, p.unexpected("a non-negative integer after " + clause)
	}
	n := p.tok.value.Int()
	return n, p.advance()
}

func (p *parser) parseSortFields() ([]SortField, error) {
	var fields []SortField
	for {
		name, pos, err := p.parseFieldName()
		if err != nil {
			return nil, err
		}
		f := SortField{Field: name, pos: pos, ctx: p.lex.ctx}
		switch {
		case p.tok.is("asc"):
			if err := p.advance(); err != nil {
				return nil, err
			}
		case p.tok.is("desc"):
			f.Desc = true
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		fields = append(fields, f)
		if p.tok.kind != tokComma {
			return fields, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// parseFieldName reads a field name that is not a keyword.
func (p *parser) parseFieldName() (string, int, error) {
	t := p.tok
	if t.kind != tokIdent {
		return "", 0, p.unexpected("a field name")
	}
	if keywords[t.word] {
		return "", 0, p.errorf(t.pos, "expected a field name, found the keyword %q", t.text)
	}
	return t.text, t.pos, p.advance()
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf(p.tok.pos, "nested deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) parseOr() (Node, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if !p.tok.is("or") {
		return first, nil
	}
	terms := []Node{first}
	for p.tok.is("or") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		t, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	return &Or{Terms: terms}, nil
}

func (p *parser) parseAnd() (Node, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if !p.tok.is("and") {
		return first, nil
	}
	terms := []Node{first}
	for p.tok.is("and") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		t, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	return &And{Terms: terms}, nil
}

func (p *parser) parseUnary() (Node, error) {
	if !p.tok.is("not") {
		return p.parsePrimary()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	term, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	p.depth--
	return &Not{Term: term}, nil
}

func (p *parser) parsePrimary() (Node, error) {
	t := p.tok
	switch t.kind {
	case tokLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.unexpected(`"and", "or" or ")"`)
		}
		p.depth--
		return inner, p.advance()
	case tokIdent:
	default:
		return nil, p.unexpected("a field name, a set function, true, false, not or (")
	}
	switch t.word {
	case "true", "false":
		return &BoolConst{Value: t.word == "true"}, p.advance()
	case "anyof", "allof", "count", "isempty":
		return p.parseSetFunc()
	}
	name, pos, err := p.parseFieldName()
	if err != nil {
		return nil, err
	}
	if p.atEndOfTerm() {
		// A bare field name is a boolean field that must be true.
		return &Comparison{Field: name, Op: OpEq, Values: []Value{Bool(true)}, Pos: pos}, nil
	}
	return p.parseComparison(&Comparison{Field: name, Pos: pos})
}

// atEndOfTerm reports whether the current token ends a predicate term.
func (p *parser) atEndOfTerm() bool {
	return p.tok.kind == tokEOF || p.tok.kind == tokRParen || p.tok.is("and") || p.tok.is("or") || p.isTrailing()
}

func (p *parser) parseSetFunc() (Node, error) {
	fn := p.tok
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, p.unexpected(`"(" after ` + fn.text)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	name, _, err := p.parseFieldName()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokRParen {
		return nil, p.unexpected(`")"`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	c := &Comparison{Field: name, Pos: fn.pos}
	switch fn.word {
	case "isempty":
		return &IsEmpty{Field: name, Pos: fn.pos}, nil
	case "anyof":
		c.Func = SetAnyOf
	case "allof":
		c.Func = SetAllOf
	case "count":
		c.Func = SetCount
	}
	return p.parseComparison(c)
}

var wordOps = map[string]Op{
	"contains": OpContains, "icontains": OpIContains, "startswith": OpStartsWith,
	"endswith": OpEndsWith, "in": OpIn, "between": OpBetween,
}

var symbolOps = map[string]Op{"=": OpEq, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}

// parseComparison reads the operator and operand of c, whose field part has been read.
func (p *parser) parseComparison(c *Comparison) (Node, error) {
	opTok := p.tok
	switch {
	case opTok.kind == tokOp:
		c.Op = symbolOps[opTok.text]
	case opTok.is("not"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		op, ok := wordOps[p.tok.word]
		if p.tok.kind != tokIdent || !ok {
			return nil, p.unexpected("contains, icontains, startsWith, endsWith, in or between after not")
		}
		c.Op, c.Not = op, true
	default:
		op, ok := wordOps[opTok.word]
		if opTok.kind != tokIdent || !ok {
			return nil, p.unexpected("an operator")
		}
		c.Op = op
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch c.Op {
	case OpIn:
		if err := p.parseList(c); err != nil {
			return nil, err
		}
	case OpBetween:
		lo, err := p.parseLiteral()
		if err != nil {
			return nil, err
		}
		if !p.tok.is("and") {
			return nil, p.unexpected(`"and" in between`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		hi, err := p.parseLiteral()
		if err != nil {
			return nil, err
		}
		c.Values = []Value{lo.value, hi.value}
		if err := checkBetween(p, c, lo, hi); err != nil {
			return nil, err
		}
	default:
		v, err := p.parseLiteral()
		if err != nil {
			return nil, err
		}
		c.Values = []Value{v.value}
		if err := checkOperand(p, c, v); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseLiteral reads a string, number, datetime, boolean or null.
func (p *parser) parseLiteral() (token, error) {
	t := p.tok
	switch {
	case t.kind == tokString || t.kind == tokNumber || t.kind == tokTime:
	case t.is("true"):
		t.value = Bool(true)
	case t.is("false"):
		t.value = Bool(false)
	case t.is("null"):
		t.value = Null()
	default:
		return t, p.unexpected("a value")
	}
	return t, p.advance()
}

func (p *parser) parseList(c *Comparison) error {
	if p.tok.kind != tokLBracket {
		return p.unexpected(`"[" after in`)
	}
	if err := p.advance(); err != nil {
		return err
	}
	var first token
	for {
		if len(c.Values) == MaxInItems {
			return p.errorf(p.tok.pos, "an in list may hold at most %d values", MaxInItems)
		}
		v, err := p.parseLiteral()
		if err != nil {
			return err
		}
		switch {
		case v.value.IsNull():
			return p.errorf(v.pos, "null can't be in a list; compare with = null instead")
		case len(c.Values) == 0:
			first = v
			if err := checkOperand(p, &Comparison{Func: c.Func, Op: OpEq}, v); err != nil {
				return err
			}
		case v.value.Kind().class() != first.value.Kind().class():
			return p.errorf(v.pos, "a list can't mix %s and %s values", first.value.Kind().class(), v.value.Kind().class())
		}
		c.Values = append(c.Values, v.value)
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return err
			}
		case tokRBracket:
			return p.advance()
		default:
			return p.unexpected(`"," or "]"`)
		}
	}
}

// checkOperand rejects operand types the operator can't use.
func checkOperand(p *parser, c *Comparison, v token) error {
	k := v.value.Kind()
	switch {
	case k == KindNull:
		if c.Func != SetNone {
			return p.errorf(v.pos, "%s(...) can't be compared with null", c.Func)
		}
		if c.Op != OpEq && c.Op != OpNe {
			return p.errorf(v.pos, "null can only be compared with = or !=")
		}
	case c.Func == SetCount && k != KindInt && k != KindFloat:
		return p.errorf(v.pos, "count(...) can only be compared with numbers")
	case c.Op >= OpContains && c.Op <= OpEndsWith && k != KindString:
		return p.errorf(v.pos, "%s needs a string", c.Op)
	case c.Op >= OpLt && c.Op <= OpGe && k == KindBool:
		return p.errorf(v.pos, "booleans can only be compared with = or !=")
	}
	return nil
}

func checkBetween(p *parser, c *Comparison, lo, hi token) error {
	for _, v := range []token{lo, hi} {
		switch v.value.Kind() {
		case KindNull, KindBool:
			return p.errorf(v.pos, "between needs numbers, strings or datetimes, not %s", v.value.Kind())
		case KindString, KindTime:
			if c.Func == SetCount {
				return p.errorf(v.pos, "count(...) can only be compared with numbers")
			}
		}
	}
	if lo.value.Kind().class() != hi.value.Kind().class() {
		return p.errorf(hi.pos, "between can't mix %s and %s", lo.value.Kind().class(), hi.value.Kind().class())
	}
	return nil
}

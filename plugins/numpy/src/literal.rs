//! A tiny parser for the Python literals in `.npy` headers (what numpy reads with
//! `ast.literal_eval`): dicts, tuples, lists, strings, bytes, integers (with Python 2's `L`
//! suffix), booleans and `None`. Nesting is capped; nothing else is accepted.

/// A parsed literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// `'text'`, `"text"`, `u'text'`.
    Str(String),
    /// `b'bytes'` (kept as text, lossily).
    Bytes(String),
    /// An integer (at most 128 bits).
    Int(i128),
    /// `True` / `False`.
    Bool(bool),
    /// `None`.
    None,
    /// `(a, b)`.
    Tuple(Vec<Lit>),
    /// `[a, b]`.
    List(Vec<Lit>),
    /// `{k: v}` in source order.
    Dict(Vec<(Lit, Lit)>),
}

const MAX_DEPTH: usize = 32;

impl Lit {
    /// Python's `repr()` of the literal (for messages and dtype names).
    pub fn repr(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Bytes(s) => format!("b'{s}'"),
            Lit::Int(i) => i.to_string(),
            Lit::Bool(true) => "True".into(),
            Lit::Bool(false) => "False".into(),
            Lit::None => "None".into(),
            Lit::Tuple(v) if v.len() == 1 => format!("({},)", v[0].repr()),
            Lit::Tuple(v) => format!("({})", join(v)),
            Lit::List(v) => format!("[{}]", join(v)),
            Lit::Dict(v) => {
                let parts: Vec<String> = v
                    .iter()
                    .map(|(k, x)| format!("{}: {}", k.repr(), x.repr()))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }
}

fn join(v: &[Lit]) -> String {
    v.iter().map(Lit::repr).collect::<Vec<_>>().join(", ")
}

struct Parser<'a> {
    s: &'a [char],
    pos: usize,
}

/// Parses one literal filling the whole text (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Lit, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { s: &chars, pos: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.pos != chars.len() {
        return Err(format!(
            "unexpected {:?} at character {}",
            chars[p.pos], p.pos
        ));
    }
    Ok(v)
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err(format!("literal nested deeper than {MAX_DEPTH}"));
        }
        self.ws();
        let Some(c) = self.peek() else {
            return Err("unexpected end of header".into());
        };
        match c {
            '{' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat('}') {
                        return Ok(Lit::Dict(items));
                    }
                    let k = self.value(depth + 1)?;
                    if !self.eat(':') {
                        return Err(format!("expected ':' at character {}", self.pos));
                    }
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    if !self.eat(',') {
                        if self.eat('}') {
                            return Ok(Lit::Dict(items));
                        }
                        return Err(format!("expected ',' or '}}' at character {}", self.pos));
                    }
                }
            }
            '(' | '[' => {
                self.pos += 1;
                let close = if c == '(' { ')' } else { ']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    trailing_comma = self.eat(',');
                    if !trailing_comma {
                        if self.eat(close) {
                            break;
                        }
                        return Err(format!(
                            "expected ',' or '{close}' at character {}",
                            self.pos
                        ));
                    }
                }
                if c == '[' {
                    Ok(Lit::List(items))
                } else if items.len() == 1 && !trailing_comma {
                    // `(x)` is just x.
                    Ok(items.pop().unwrap_or(Lit::None))
                } else {
                    Ok(Lit::Tuple(items))
                }
            }
            '\'' | '"' => Ok(Lit::Str(self.string()?)),
            'b' | 'B' | 'u' | 'U' | 'r' | 'R'
                if matches!(self.s.get(self.pos + 1), Some('\'' | '"')) =>
            {
                self.pos += 1;
                let s = self.string()?;
                Ok(if c == 'b' || c == 'B' {
                    Lit::Bytes(s)
                } else {
                    Lit::Str(s)
                })
            }
            '-' | '+' | '0'..='9' => self.int(),
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.pos += 1;
                }
                let word: String = self.s[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Lit::Bool(true)),
                    "False" => Ok(Lit::Bool(false)),
                    "None" => Ok(Lit::None),
                    _ => Err(format!("unsupported token {word:?} at character {start}")),
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let q = self.peek().unwrap_or('\'');
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!("unterminated string starting at character {start}"));
            };
            self.pos += 1;
            if c == q {
                return Ok(out);
            }
            if c == '\\' {
                let Some(e) = self.peek() else {
                    return Err(format!("unterminated string starting at character {start}"));
                };
                self.pos += 1;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'x' => {
                        let hex: String = self
                            .s
                            .get(self.pos..self.pos + 2)
                            .unwrap_or(&[])
                            .iter()
                            .collect();
                        let v = u32::from_str_radix(&hex, 16)
                            .map_err(|_| format!("bad \\x escape at {}", self.pos))?;
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        self.pos += 2;
                    }
                    other => out.push(other),
                }
            } else {
                out.push(c);
            }
        }
    }

    fn int(&mut self) -> Result<Lit, String> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.s[start..self.pos].iter().collect();
        // Python 2 long suffix, which numpy's header filter strips.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        text.parse::<i128>()
            .map(Lit::Int)
            .map_err(|_| format!("bad integer {text:?} at character {start}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_npy_headers() {
        let h = parse("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }          \n")
            .unwrap();
        assert_eq!(
            h,
            Lit::Dict(vec![
                (Lit::Str("descr".into()), Lit::Str("<f8".into())),
                (Lit::Str("fortran_order".into()), Lit::Bool(false)),
                (
                    Lit::Str("shape".into()),
                    Lit::Tuple(vec![Lit::Int(3), Lit::Int(4)])
                ),
            ])
        );
        assert_eq!(parse("(5,)").unwrap(), Lit::Tuple(vec![Lit::Int(5)]));
        assert_eq!(parse("()").unwrap(), Lit::Tuple(vec![]));
        assert_eq!(parse("(5)").unwrap(), Lit::Int(5));
        assert_eq!(
            parse("(2L, 3L)").unwrap(),
            Lit::Tuple(vec![Lit::Int(2), Lit::Int(3)])
        );
        assert_eq!(parse("u'x'").unwrap(), Lit::Str("x".into()));
        assert_eq!(
            parse("[('a', '<i4'), ('b', '>f8', (2,))]").unwrap().repr(),
            "[('a', '<i4'), ('b', '>f8', (2,))]"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "{'a': 1",
            "__import__('os')",
            "{'a' 1}",
            "'abc",
            "(1 2)",
            "99999999999999999999999999999999999999999",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "(".repeat(100) + &")".repeat(100);
        assert!(parse(&deep).is_err());
    }
}

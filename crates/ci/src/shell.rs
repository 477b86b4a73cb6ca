//! Just enough of POSIX shell to find the commands a `run:` script runs:
//! words (quotes removed, `${{ ... }}` expressions kept whole), commands
//! split at `;`, `&&`, `||`, `|`, `&` and newlines, line continuations
//! joined, comments dropped. No expansion: a word is what is written.

/// A simple command and the line of the script (0-based) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its words, wrappers (`sudo`, `env`, `VAR=x`, `python -m`, ...) removed.
    pub words: Vec<String>,
    /// The line of the script where it starts.
    pub line: usize,
}

impl Command {
    /// Whether the words start with `prefix`.
    pub fn starts_with(&self, prefix: &[&str]) -> bool {
        self.words.len() >= prefix.len() && self.words.iter().zip(prefix).all(|(w, p)| w == p)
    }

    /// Whether some word is `flag` or starts with `flag=`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.words
            .iter()
            .any(|w| w == flag || w.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    }

    /// The value of an option (`--opt value` or `--opt=value`), for any of
    /// `names`.
    pub fn option(&self, names: &[&str]) -> Option<&str> {
        let mut it = self.words.iter();
        while let Some(w) = it.next() {
            for n in names {
                if w == n {
                    return it.next().map(String::as_str);
                }
                if let Some(v) = w.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                    return Some(v);
                }
            }
        }
        None
    }

    /// The words that are not options, after the first `skip` words, with
    /// the options in `takes_value` skipping their value.
    pub fn positionals(&self, skip: usize, takes_value: &[&str]) -> Vec<&str> {
        let mut out = Vec::new();
        let mut it = self.words.iter().skip(skip);
        let mut only_positionals = false;
        while let Some(w) = it.next() {
            if only_positionals || !w.starts_with('-') || w == "-" {
                out.push(w.as_str());
            } else if w == "--" {
                only_positionals = true;
            } else if !w.contains('=') && takes_value.contains(&w.as_str()) {
                it.next();
            }
        }
        out
    }
}

/// The commands of a script.
pub fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut line = 0usize;
    let mut start_line = 0usize;
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    let end_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let end_command = |words: &mut Vec<String>, out: &mut Vec<Command>, start: usize| {
        if !words.is_empty() {
            let w = unwrap(std::mem::take(words));
            if !w.is_empty() {
                out.push(Command {
                    words: w,
                    line: start,
                });
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if !in_word && words.is_empty() && !c.is_whitespace() {
            start_line = line;
        }
        match c {
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                line += 1;
                i += 2;
                continue;
            }
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    word.push(n);
                    in_word = true;
                }
                i += 2;
                continue;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '$' if chars.get(i + 1) == Some(&'{') && chars.get(i + 2) == Some(&'{') => {
                // An expression: kept whole, spaces and all.
                in_word = true;
                while i < chars.len() {
                    word.push(chars[i]);
                    if chars[i] == '}' && chars.get(i + 1) == Some(&'}') {
                        word.push('}');
                        i += 1;
                        break;
                    }
                    i += 1;
                }
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                // A command substitution: one opaque word.
                in_word = true;
                let mut depth = 0;
                while i < chars.len() {
                    match chars[i] {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        '\n' => line += 1,
                        _ => {}
                    }
                    word.push(chars[i]);
                    if depth == 0 && chars[i] == ')' {
                        break;
                    }
                    i += 1;
                }
            }
            '(' | ')' if !in_word => {
                end_command(&mut words, &mut out, start_line);
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\n' | ';' | '&' | '|' => {
                end_word(&mut word, &mut in_word, &mut words);
                end_command(&mut words, &mut out, start_line);
                if c == '\n' {
                    line += 1;
                }
            }
            c if c.is_whitespace() => end_word(&mut word, &mut in_word, &mut words),
            c => {
                word.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    end_word(&mut word, &mut in_word, &mut words);
    end_command(&mut words, &mut out, start_line);
    out
}

/// Remove what only wraps the real command: assignments, `sudo`, `env`,
/// `time`, `exec`, `command`, `python -m`, `uv run`, `uvx`, `pipx run`,
/// `poetry run`, `npx`, `conda run`.
fn unwrap(mut w: Vec<String>) -> Vec<String> {
    loop {
        let Some(first) = w.first() else { return w };
        let is_assignment = first.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let first = first.as_str();
        let drop = if is_assignment
            || matches!(
                first,
                "sudo"
                    | "env"
                    | "time"
                    | "exec"
                    | "command"
                    | "uvx"
                    | "npx"
                    | "then"
                    | "do"
                    | "else"
                    | "!"
                    | "{"
            ) {
            1
        } else if ((first.starts_with("python")
            || first.ends_with("/python")
            || first.ends_with("/python3"))
            && w.get(1).is_some_and(|a| a == "-m"))
            || (matches!(first, "uv" | "pipx" | "poetry" | "pdm" | "hatch")
                && w.get(1).is_some_and(|a| a == "run"))
        {
            2
        } else if first == "conda" && w.get(1).is_some_and(|a| a == "run") {
            // conda run -n env CMD
            let mut k = 2;
            while w.get(k).is_some_and(|a| a.starts_with('-')) {
                k += if matches!(w[k].as_str(), "-n" | "--name" | "-p" | "--prefix") {
                    2
                } else {
                    1
                };
            }
            k
        } else {
            return w;
        };
        w.drain(..drop.min(w.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<String>> {
        commands(s).into_iter().map(|c| c.words).collect()
    }

    #[test]
    fn splits_and_unwraps() {
        let s = "set -e\npython -m twine upload \\\n  --password ${{ secrets.PYPI }} dist/*\nFOO=1 sudo docker push x:1 && echo 'a b' # c\n";
        let c = commands(s);
        assert_eq!(c[0].words, ["set", "-e"]);
        assert_eq!(
            c[1].words,
            [
                "twine",
                "upload",
                "--password",
                "${{ secrets.PYPI }}",
                "dist/*"
            ]
        );
        assert_eq!(c[1].line, 1);
        assert_eq!(c[2].words, ["docker", "push", "x:1"]);
        assert_eq!(c[2].line, 3);
        assert_eq!(c[3].words, ["echo", "a b"]);
        assert_eq!(
            c[1].option(&["-p", "--password"]),
            Some("${{ secrets.PYPI }}")
        );
        assert_eq!(
            words("if x; then cargo publish; fi")[1],
            ["cargo", "publish"]
        );
        assert_eq!(
            commands("gh release create v1 --notes x a.whl")
                .remove(0)
                .positionals(3, &["--notes"]),
            ["v1", "a.whl"]
        );
    }
}

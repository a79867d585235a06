# A trimmed pygments hook (wins over the stock one, which bundles all ~260 lexer modules):
# the lexer/style maps, Rich's default style and the languages people paste most. Other
# languages render as plain text in the binary.
hiddenimports = [
    "pygments.lexers._mapping", "pygments.styles._mapping", "pygments.styles.monokai",
    "pygments.formatters.terminal256",
] + [f"pygments.lexers.{m}" for m in (
    "python", "shell", "javascript", "data", "html", "css", "c_cpp", "rust", "go", "jvm",
    "sql", "diff", "configs", "markup", "special", "ruby", "php", "make",
)]

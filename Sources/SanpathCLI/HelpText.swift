/// Help texts are written as paragraphs wrapped in the source; swift-argument-parser keeps every
/// newline and wraps again at the terminal's width, which would leave ragged half-lines. `prose`
/// joins the lines of each paragraph so the parser wraps it once; a blank line still separates
/// paragraphs and an indented line (an example, a JSON shape) stays as it is, on its own line.
enum HelpText {
    static func prose(_ text: String) -> String {
        var lines: [String] = []
        var joining = false
        // split on the bytes: a split by Character segments every grapheme of every command's help at each start-up
        for bytes in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Substring(bytes)
            if line.isEmpty || line.first == " " {
                lines.append(String(line))
                joining = false
            } else if joining, !lines.isEmpty {
                // String's own append: `last + " " + line` takes the generic path, at every start-up
                lines[lines.count - 1].append(" ")
                lines[lines.count - 1].append(contentsOf: line)
            } else {
                lines.append(String(line))
                joining = true
            }
        }
        return lines.joined(separator: "\n")
    }
}

"""book.table: the Markdown of a glued table."""
from markdown_it import MarkdownIt

from saddlebook.book import table


def test_pipes_in_math_and_text_stay_in_their_cell():
    md = table(["$|\\lambda|\\,t$", "a|b"], [[1, "$|x|$"]]).data
    assert md.splitlines()[0] == "| $\\vert{}\\lambda\\vert{}\\,t$ | a\\|b |"
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    assert sum(t.type == "th_open" for t in tokens) == 2  # still two columns
    assert sum(t.type == "td_open" for t in tokens) == 2

"""Every chapter of the book executes through the pipeline in its quick
setting, with every check passing. Executed copies go to a temp folder, so
the built book is never touched."""
import pytest

from saddlebook.publish.chapters import chapters
from saddlebook.publish.execute import execute

CHAPTERS = chapters()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_executes_quick(chapter, tmp_path):
    overrides = {"quick": True} if "quick" in chapter.defaults() else {}
    result = execute(chapter, overrides, out_dir=tmp_path, force=True)
    assert chapter.executed(tmp_path).is_file()
    made = result.record["checks"]
    assert all(c["passed"] for c in made)
    if chapter.stem != "00-preface":
        assert len(made) >= 3, f"{chapter.stem} verifies fewer than 3 claims"

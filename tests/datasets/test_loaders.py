from pathlib import Path

import numpy as np
import pytest

from scenescout.datasets.loaders import DataFileError, read_events, read_interactions
from scenescout.frames import INTERACTION_TYPES

FOURSQUARE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "foursquare-sg"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_csv_with_header_in_any_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "event_id,type,user_id,timestamp,weight\n"
        "e1,save,u1,2024-05-01T20:00:00Z,2.5\n"
        "e2,purchase,u2,1714593600,\n",
    )
    log = read_interactions(path)
    assert list(log.user_ids) == ["u1", "u2"]
    assert list(log.event_ids) == ["e1", "e2"]
    assert [INTERACTION_TYPES[c].value for c in log.type_code] == ["save", "purchase"]
    assert list(log.occurred_ts) == [1714593600, 1714593600]
    assert log.weight[0] == pytest.approx(2.5)
    assert np.isnan(log.weight[1])


def test_reads_headerless_tsv_and_whitespace(tmp_path: Path) -> None:
    tsv = read_interactions(write(tmp_path, "u1\te1\t3\nu2\te2\t1\n", "a.tsv"))
    spaced = read_interactions(write(tmp_path, "u1 e1 3\r\nu2 e2 1\r\n", "b.txt"))
    for log in (tsv, spaced):
        assert list(log.user_ids) == ["u1", "u2"]
        assert list(log.weight) == [3.0, 1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_id,event_id,type\nu1,e1,like\n", "line 2: unknown interaction type 'like'"),
        ("user_id,event_id,weight\nu1,e1,-2\n", "line 2: weight '-2' must be a number >= 0"),
        ("user_id,event_id,timestamp\nu1,e1,yesterday\n", "line 2: timestamp 'yesterday'"),
        ("user_id,event_id\n,e1\n", "line 2: user_id and event_id must not be empty"),
        ("user_id,item_name\nu1,e1\n", "unknown column"),
        ("", "the file is empty"),
    ],
)
def test_bad_interaction_files_say_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataFileError, match=message):
        read_interactions(write(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        read_interactions(tmp_path / "nope.csv")


def test_reads_events_and_validates(tmp_path: Path) -> None:
    records = read_events(
        write(
            tmp_path,
            "event_id,lat,lng,category,title,start_time,end_time\n"
            "e1,1.3,103.8,music,Gig,2024-05-01T20:00:00+08:00,2024-05-01T23:00:00+08:00\n"
            "e2,1.4,103.9,,,,\n",
        )
    )
    assert records[0].category == "music"
    assert records[0].start_time is not None and records[0].start_time.utcoffset() is not None
    assert records[1].start_time is None and records[1].category is None
    with pytest.raises(DataFileError, match=r"line 2: lat 95.0 must be in \[-90, 90\]"):
        read_events(write(tmp_path, "event_id,lat,lng\ne1,95,10\n"))
    with pytest.raises(DataFileError, match="appears twice"):
        read_events(write(tmp_path, "event_id,lat,lng\ne1,1,1\ne1,2,2\n"))
    with pytest.raises(DataFileError, match="end_time is before start_time"):
        read_events(
            write(tmp_path, "event_id,lat,lng,start_time,end_time\ne1,1,1,2024-01-02,2024-01-01\n")
        )


def test_reads_the_foursquare_files_as_given() -> None:
    if not FOURSQUARE.is_dir():
        pytest.skip(f"{FOURSQUARE} is not present")
    train = read_interactions(FOURSQUARE / "train.txt")
    places = read_events(FOURSQUARE / "locations.txt")
    assert len(places) == 5596
    assert len(train) == 69159
    assert set(train.event_ids) <= {p.event_id for p in places}
    assert all(1.0 < p.lat < 1.6 and 103.5 < p.lng < 104.2 for p in places)

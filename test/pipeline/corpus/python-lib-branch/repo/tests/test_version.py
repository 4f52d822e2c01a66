import tinyjson


def test_version():
    assert tinyjson.__version__

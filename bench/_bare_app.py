"""The reference for bench/app_launch.py: a bare Textual app with a list and a footer."""

from textual.app import App, ComposeResult
from textual.widgets import Footer, OptionList


class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield OptionList(*[f"scenario {i}" for i in range(8)], "blocking-barista")
        yield Footer()


if __name__ == "__main__":
    Bare().run()

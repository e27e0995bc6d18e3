"""The collector: ``/t.js``, ``/collect``, ``/collect.gif`` — parsing, storing, answering."""

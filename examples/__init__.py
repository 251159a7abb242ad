"""Example games built on Kasagi, each a room type written against :mod:`kasagi.rooms`."""

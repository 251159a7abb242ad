"""Tic-tac-toe with a durable turn timer and rematches: :class:`examples.tictactoe.rooms.TicTacToe`."""

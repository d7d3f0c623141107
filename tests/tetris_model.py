"""A plain-Python model of tetris's rules (reference 4.0, with the fixes named in envs/tetris/tetris.h),
written from the rules, not from the C code, and a placement-search player. test_env_tetris.py steps
the C env and this model side by side and compares every observation, reward, done flag and log.

The model takes what is random from the env's own observations: the piece that enters the preview
and the holes of a garbage row (and checks both against the rules: the bag, the hole count)."""
import math

import numpy as np

ROWS, COLS = 20, 10
NOOP, LEFT, RIGHT, ROTATE, SOFT_DROP, HARD_DROP, HOLD = range(7)
CELLS = ROWS * COLS
TICK, FALL, ROW, COL, ROT, SWAP = range(CELLS, CELLS + 6)
QUEUE = CELLS + 6  # one-hot current, next, next-next, held: 7 floats each
MAX_TICKS, PERF_SCORE = 10000, 67890
CLEAR_SCORE = [0, 100, 300, 500, 1000]
CLEAR_REWARD = [0, 0.1, 0.3, 0.5, 1.0]

# Each piece in rotations 0..3, as in the reference (rows top to bottom, packed top-left).
ART = {
    'O': ['XX/XX'] * 4,
    'I': ['X/X/X/X', 'XXXX'] * 2,
    'S': ['X./XX/.X', '.XX/XX.'] * 2,
    'Z': ['.X/XX/X.', 'XX./.XX'] * 2,
    'T': ['.X/XX/.X', '.X./XXX', 'X./XX/X.', 'XXX/.X.'],
    'L': ['X./X./XX', 'XXX/X..', 'XX/.X/.X', '..X/XXX'],
    'J': ['.X/.X/XX', 'X../XXX', 'XX/X./X.', 'XXX/..X'],
}
NAMES = 'OISZTLJ'  # piece ids 0..6


def cells_of(piece, rot):
    rows = ART[NAMES[piece]][rot].split('/')
    return [(r, c) for r, line in enumerate(rows) for c, ch in enumerate(line) if ch == 'X']


def one_hot(obs, slot):
    part = obs[QUEUE + 7 * slot: QUEUE + 7 * slot + 7]
    hits = np.nonzero(part)[0]
    return int(hits[0]) if len(hits) else -1


class Model:
    def __init__(self, obs, rows=ROWS, cols=COLS, max_ticks=MAX_TICKS):
        self.rows, self.cols, self.max_ticks = rows, cols, max_ticks
        self.new_game(obs)

    def new_game(self, obs):
        cells = obs[:self.rows * self.cols].reshape(self.rows, self.cols)
        self.board = cells == 1
        self.piece, self.rot, self.row, self.col = one_hot(obs, 0), 0, 0, self.cols // 2
        self.queue = [one_hot(obs, 1), one_hot(obs, 2)]
        self.hold, self.can_swap = -1, 1
        self.tick = self.tick_fall = self.tick_garbage = 0
        self.ticks_per_fall, self.ticks_per_garbage = 6, 100
        self.lines = self.combos = self.score = 0
        self.level = 1
        self.ret = 0.0
        self.counts = {SOFT_DROP: 0, HARD_DROP: 0, ROTATE: 0, HOLD: 0}
        self.spawned = [self.piece]   # pieces in the order they left the deck (for the bag check)
        self.garbage_ticks = []

    def fits(self, piece, rot, row, col):
        for r, c in cells_of(piece, rot):
            rr, cc = row + r, col + c
            if rr < 0 or cc < 0 or rr >= self.rows or cc >= self.cols or self.board[rr, cc]:
                return False
        return True

    def spawn(self, piece):
        self.piece, self.rot, self.row, self.col, self.tick_fall = piece, 0, 0, self.cols // 2, 0

    def take_next(self, obs_after):
        """The next piece leaves the deck; the deck's new last preview comes from the env's obs."""
        piece = self.queue.pop(0)
        self.queue.append(one_hot(obs_after, 2))
        self.spawned.append(piece)
        self.spawn(piece)

    def lock(self, obs_after):
        for r, c in cells_of(self.piece, self.rot):
            self.board[self.row + r, self.col + c] = True
        full = self.board.all(axis=1)
        cleared = int(full.sum())
        if cleared:
            self.board = np.vstack([np.zeros((cleared, self.cols), bool), self.board[~full]])
            self.combos += 1
            self.lines += cleared
            self.score += CLEAR_SCORE[cleared]
            self.reward += CLEAR_REWARD[cleared]
            self.level = 1 + self.lines // 10
            self.ticks_per_fall = max(3, 6 - self.level // 4)
            self.ticks_per_garbage = max(40, int(100 - 7 * math.sqrt(self.level)))
        self.can_swap = 1
        self.cleared.append(cleared)
        if self.fits(self.queue[0], 0, 0, self.cols // 2):
            self.take_next(obs_after)
        else:
            self.over = True

    def garbage(self, obs_after):
        if self.board[0].any():
            self.over = True
            return
        self.board = np.vstack([self.board[1:], np.zeros((1, self.cols), bool)])
        self.row = max(0, self.row - 1)
        self.garbage_ticks.append(self.tick)
        if not self.fits(self.piece, self.rot, self.row, self.col):  # pushed into the piece
            self.over = True
            return
        bottom = obs_after[(self.rows - 1) * self.cols: self.rows * self.cols] == 1
        holes = min(5, max(1, self.level // 8))
        assert bottom.sum() == self.cols - holes, bottom
        self.board[-1] = bottom

    def step(self, action, obs_after):
        """Applies one action; returns (reward, terminal, truncated)."""
        self.reward, self.over, self.cleared = 0.0, False, []
        self.tick += 1
        self.tick_fall += 1
        self.tick_garbage += 1
        if action in self.counts:
            self.counts[action] += 1
        p, rot, row, col = self.piece, self.rot, self.row, self.col
        if action == LEFT and self.fits(p, rot, row, col - 1):
            self.col -= 1
        elif action == RIGHT and self.fits(p, rot, row, col + 1):
            self.col += 1
        elif action == ROTATE and self.fits(p, (rot + 1) % 4, row, col):
            self.rot = (rot + 1) % 4
            self.reward += 0.01
        elif action == SOFT_DROP and self.fits(p, rot, row + 1, col):
            self.row += 1
            self.score += 1
        elif action == HARD_DROP:
            while self.fits(p, rot, self.row + 1, col):
                self.row += 1
                self.reward += 0.02
            self.score += 2
            self.lock(obs_after)
        elif action == HOLD and self.can_swap:
            incoming = self.hold if self.hold >= 0 else self.queue[0]
            if self.fits(incoming, 0, 0, self.cols // 2):
                current = self.piece
                if self.hold >= 0:
                    self.spawn(incoming)
                else:
                    self.take_next(obs_after)
                self.hold, self.can_swap = current, 0
        if not self.over and self.tick_fall >= self.ticks_per_fall:
            self.tick_fall = 0
            if self.fits(self.piece, self.rot, self.row + 1, self.col):
                self.row += 1
            else:
                self.lock(obs_after)
        if not self.over and self.tick >= 500 and self.tick_garbage >= self.ticks_per_garbage:
            self.tick_garbage = 0
            self.garbage(obs_after)
        self.ret += self.reward
        return self.reward, self.over, (not self.over) and self.tick >= self.max_ticks

    def log(self):
        t = self.tick
        return {
            'perf': self.score / PERF_SCORE, 'score': self.score, 'episode_length': t,
            'episode_return': self.ret, 'lines_deleted': self.lines,
            'avg_combo': self.lines / self.combos if self.combos else 1.0,
            'atn_frac_soft_drop': self.counts[SOFT_DROP] / t, 'atn_frac_hard_drop': self.counts[HARD_DROP] / t,
            'atn_frac_rotate': self.counts[ROTATE] / t, 'atn_frac_hold': self.counts[HOLD] / t,
            'game_level': self.level, 'ticks_per_line': t / self.lines if self.lines else t,
        }

    def expected_obs(self):
        o = np.zeros(CELLS + 6 + 28, np.float32)
        board = self.board.astype(np.float32)
        for r, c in cells_of(self.piece, self.rot):
            board[self.row + r, self.col + c] = 2
        o[:CELLS] = board.ravel()
        o[TICK:SWAP + 1] = [self.tick / self.max_ticks, self.tick_fall / self.ticks_per_fall,
                            self.row / self.rows, self.col / self.cols, self.rot, self.can_swap]
        for slot, piece in enumerate([self.piece, *self.queue, self.hold]):
            if piece >= 0:
                o[QUEUE + 7 * slot + piece] = 1
        return o

    # A placement-search player: for every rotation and column, drop the piece and score the
    # board (lines cleared, holes, height, bumpiness); the best placement is the target.
    def plan(self, rng):
        best, target = -1e9, (self.rot, self.col)
        for rot in range(4):
            for col in range(-1, self.cols):
                if not self.fits(self.piece, rot, 0, col):
                    continue
                row = 0
                while self.fits(self.piece, rot, row + 1, col):
                    row += 1
                b = self.board.copy()
                for r, c in cells_of(self.piece, rot):
                    b[row + r, col + c] = True
                full = b.all(axis=1)
                lines = int(full.sum())
                b = b[~full]
                heights = np.where(b.any(axis=0), len(b) - b.argmax(axis=0), 0)
                holes = int((np.maximum.accumulate(b, axis=0) & ~b).sum())
                value = (3.0 * lines ** 2 - 0.5 * heights.sum() - 4.0 * holes
                         - 0.3 * np.abs(np.diff(heights)).sum() + 0.01 * rng.random())
                if value > best:
                    best, target = value, (rot, col)
        return target

    def act(self, target):
        rot, col = target
        if self.rot != rot and self.fits(self.piece, (self.rot + 1) % 4, self.row, self.col):
            return ROTATE
        if self.col < col and self.fits(self.piece, self.rot, self.row, self.col + 1):
            return RIGHT
        if self.col > col and self.fits(self.piece, self.rot, self.row, self.col - 1):
            return LEFT
        return HARD_DROP

// tetris.h: single-agent Tetris (reference 4.0 rules: ocean/tetris).
//
// Board: n_rows x n_cols (20 x 10; any shape of 200 cells with 4 <= n_cols <= 16). Pieces come
// from a 7-bag (every aligned run of 7 spawns holds each piece once, unless hold reorders them)
// and spawn at row 0, column n_cols / 2, rotation 0. Rotation turns the piece's 4x4 shape, packed
// to its top-left corner, in place (no wall kicks); a move or rotation that would overlap a block
// or leave the board does nothing. The piece falls one row every ticks_per_fall steps (6, then
// max(3, 6 - level / 4)); a piece that cannot fall is placed. Each step the agent does one of
//   0 nothing, 1 left, 2 right, 3 rotate, 4 soft drop (one row), 5 hard drop (to the bottom,
//   placed at once), 6 hold (swap with the held piece, or stash it and take the next; once per
//   placed piece).
// Full rows clear; level = 1 + lines / 10. From step 500 a garbage row with min(5, max(1,
// level / 8)) holes pushes the stack up every 100 steps (after the first clear: every
// max(40, 100 - 7 sqrt(level)) steps). Each episode starts with n_init_garbage rows holding one
// block each (9 holes). The game ends when
// the next piece cannot spawn or garbage pushes blocks off the top; it is cut off (truncation)
// after max_ticks steps (10000, fixed in the reference).
//
// Reward: 0.1 / 0.3 / 0.5 / 1.0 for clearing 1 / 2 / 3 / 4 rows with one piece, 0.01 per
// rotation, 0.02 per row of a hard drop (the trainer clips each step's sum to [-1, 1]).
// Score: 100 / 300 / 500 / 1000 per clear, 1 per soft drop, 2 per hard drop. perf = score / 67890.
//
// Observation (234 floats): the board, row-major (0 empty, 1 block, 2 the falling piece); then
// tick / max_ticks, tick_fall / ticks_per_fall, piece row / n_rows, piece column / n_cols, rotation
// (0..3), can hold (0/1); then one-hot (7 each) the falling piece, the next two pieces and the
// held piece (zero when none). With use_deck_obs = 0 the 28 one-hot entries stay 0.
//
// Fixed from the reference: hold checked the incoming piece at the current place and rotation
// but put it at the spawn place (it could overlap blocks) and stashing into an empty hold spawned
// the next piece unchecked: hold now needs the incoming piece to fit at the spawn place. A
// garbage row that pushed the stack into the falling piece left them overlapping: that now ends
// the game. After a game over the same step could place the piece again (gravity): it stops.
// The time limit reset the game without any done flag: it now sets truncations. The first bag
// skipped its first piece. n_noise_obs wrote past the 234-float observation: it must be 0.
#include "ocean.h"

#define TETRIS_CELLS 200           // n_rows * n_cols (OBS_SIZE is fixed at build time)
#define TETRIS_MAX_ROWS 50         // 200 cells with n_cols >= 4
#define TETRIS_MAX_COLS 16         // one row is a 16-bit mask
#define TETRIS_PIECES 7            // ids 0..6: O I S Z T L J
#define TETRIS_BAGS 2
#define TETRIS_DECK (TETRIS_BAGS * TETRIS_PIECES)
#define TETRIS_PREVIEW 2
#define TETRIS_SCALARS 6
#define TETRIS_OBS (TETRIS_CELLS + TETRIS_SCALARS + TETRIS_PIECES * (TETRIS_PREVIEW + 2))  // 234
#define TETRIS_PERF_SCORE 67890.0f  // the reference's "personal best": perf = score / this
#define TETRIS_TICKS_PER_FALL 6
#define TETRIS_GARBAGE_START 500
#define TETRIS_TICKS_PER_GARBAGE 100
#define TETRIS_LINES_PER_LEVEL 10
#define TETRIS_INIT_GARBAGE_HOLES 9
#define TETRIS_GARBAGE 8           // cell colour id of garbage; pieces are 1..7

enum { TT_NOOP = 0, TT_LEFT, TT_RIGHT, TT_ROTATE, TT_SOFT_DROP, TT_HARD_DROP, TT_HOLD };

typedef struct {
    float perf;                // score / 67890
    float score;
    float episode_length;      // steps
    float episode_return;
    float lines_deleted;
    float avg_combo;           // rows per clearing placement (1 when none)
    float atn_frac_soft_drop;  // share of steps with that action, valid or not
    float atn_frac_hard_drop;
    float atn_frac_rotate;
    float atn_frac_hold;
    float game_level;
    float ticks_per_line;      // steps / rows cleared (steps when none)
    float n;
} Log;

typedef struct {
    Log log;
    float* observations;
    float* actions;
    float* rewards;
    float* terminals;
    float* truncations;
    int num_agents;
    uint32_t rng;
    // Config, from the [env] section.
    int n_rows, n_cols;
    int use_deck_obs;
    int n_init_garbage;
    int max_ticks;
    // The board: a bit mask per row (bit c = column c) for the rules, a colour id per cell
    // (0 empty, 1..7 piece id + 1, TETRIS_GARBAGE) for drawing.
    uint16_t rows[TETRIS_MAX_ROWS];
    uint8_t cells[TETRIS_CELLS];
    uint16_t full_row;
    // The falling piece and the queue.
    int piece, row, col, rot;
    int hold;                  // -1 when empty
    int can_swap;
    uint8_t deck[TETRIS_DECK];
    int deck_pos;
    // Timers and scoring.
    int tick, tick_fall, ticks_per_fall, tick_garbage, ticks_per_garbage;
    int score, lines_deleted, count_combos, game_level;
    int atn_soft_drop, atn_hard_drop, atn_rotate, atn_hold;
    float episode_return;
    int game_over;
    // What the observation's board part shows, so a step rewrites only what changed.
    int board_dirty, queue_dirty;
    int drawn_piece, drawn_row, drawn_col, drawn_rot;
    int window_ready;
} Tetris;

// 4x4 shape of a piece in a rotation, packed to the top left: bit 4 * r + c is row r, column c.
// Rotations are the reference's (same orientations, in the same order).
PUFFER_FN uint32_t tetris_shape(int piece, int rot) {
    const uint16_t shapes[TETRIS_PIECES][4] = {
        {0x0033, 0x0033, 0x0033, 0x0033},  // O
        {0x1111, 0x000F, 0x1111, 0x000F},  // I: vertical, flat
        {0x0231, 0x0036, 0x0231, 0x0036},  // S
        {0x0132, 0x0063, 0x0132, 0x0063},  // Z
        {0x0232, 0x0072, 0x0131, 0x0027},  // T
        {0x0311, 0x0017, 0x0223, 0x0074},  // L
        {0x0322, 0x0071, 0x0113, 0x0047},  // J
    };
    return shapes[piece][rot];
}

PUFFER_FN int shape_height(uint32_t shape) {
    int h = 0;
    while (h < 4 && ((shape >> (4 * h)) & 0xF)) h++;
    return h;
}

PUFFER_FN int shape_width(uint32_t shape) {
    uint32_t cols = (shape | shape >> 4 | shape >> 8 | shape >> 12) & 0xF;
    return cols >= 8 ? 4 : cols >= 4 ? 3 : cols >= 2 ? 2 : 1;
}

// 1 if the piece fits at (row, col) in rotation rot: inside the board, over no block.
PUFFER_FN int tetris_fits(const Tetris* env, int piece, int rot, int row, int col) {
    uint32_t shape = tetris_shape(piece, rot);
    int h = shape_height(shape), w = shape_width(shape);
    if (row < 0 || col < 0 || row + h > env->n_rows || col + w > env->n_cols) return 0;
    for (int r = 0; r < h; r++) {
        uint32_t bits = ((shape >> (4 * r)) & 0xF) << col;
        if (bits & env->rows[row + r]) return 0;
    }
    return 1;
}

PUFFER_FN int spawn_col(const Tetris* env) { return env->n_cols / 2; }

// A new bag: the 7 pieces in random order (Fisher-Yates) in deck[start .. start + 6].
PUFFER_FN void tetris_fill_bag(Tetris* env, int start) {
    for (int i = 0; i < TETRIS_PIECES; i++) env->deck[start + i] = (uint8_t)i;
    for (int i = TETRIS_PIECES - 1; i > 0; i--) {
        int j = puffer_randint(&env->rng, i + 1);
        uint8_t t = env->deck[start + i];
        env->deck[start + i] = env->deck[start + j];
        env->deck[start + j] = t;
    }
}

PUFFER_FN int tetris_next_piece(const Tetris* env, int ahead) {
    return env->deck[(env->deck_pos + ahead) % TETRIS_DECK];
}

PUFFER_FN void tetris_place_at_spawn(Tetris* env, int piece) {
    env->piece = piece;
    env->rot = 0;
    env->row = 0;
    env->col = spawn_col(env);
    env->tick_fall = 0;
    env->queue_dirty = 1;
}

// Takes the next piece of the deck; entering a bag refills the other one.
PUFFER_FN void tetris_spawn_next(Tetris* env) {
    env->deck_pos = (env->deck_pos + 1) % TETRIS_DECK;
    if (env->deck_pos == 0) tetris_fill_bag(env, TETRIS_PIECES);
    else if (env->deck_pos == TETRIS_PIECES) tetris_fill_bag(env, 0);
    tetris_place_at_spawn(env, env->deck[env->deck_pos]);
}

// Pushes the stack up by `lines` rows of garbage with `holes` distinct empty columns each.
// Blocks pushed off the top, or into the falling piece, end the game.
PUFFER_FN void tetris_add_garbage(Tetris* env, int lines, int holes) {
    int n = env->n_rows, w = env->n_cols;
    for (int r = 0; r < lines; r++) {
        if (env->rows[r]) {
            env->game_over = 1;
            return;
        }
    }
    for (int r = 0; r < n - lines; r++) env->rows[r] = env->rows[r + lines];
    for (int i = 0; i < (n - lines) * w; i++) env->cells[i] = env->cells[i + lines * w];
    for (int r = n - lines; r < n; r++) {
        int order[TETRIS_MAX_COLS];
        for (int c = 0; c < w; c++) order[c] = c;
        uint16_t mask = env->full_row;
        for (int i = 0; i < holes; i++) {  // partial Fisher-Yates: the first `holes` of a shuffle
            int j = i + puffer_randint(&env->rng, w - i);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
            mask &= (uint16_t)~(1u << order[i]);
        }
        env->rows[r] = mask;
        for (int c = 0; c < w; c++) env->cells[r * w + c] = (mask >> c) & 1 ? TETRIS_GARBAGE : 0;
    }
    env->board_dirty = 1;
    env->row = env->row - lines > 0 ? env->row - lines : 0;
    if (!tetris_fits(env, env->piece, env->rot, env->row, env->col)) env->game_over = 1;
}

PUFFER_FN void tetris_clear_row(Tetris* env, int row) {
    int w = env->n_cols;
    for (int r = row; r > 0; r--) env->rows[r] = env->rows[r - 1];
    env->rows[0] = 0;
    for (int i = (row + 1) * w - 1; i >= w; i--) env->cells[i] = env->cells[i - w];
    memset(env->cells, 0, (size_t)w);
}

// Writes the falling piece into the board, clears full rows, scores, then spawns the next piece
// (or ends the game when it does not fit).
PUFFER_FN void tetris_lock(Tetris* env) {
    const int scores[5] = {0, 100, 300, 500, 1000};
    const float rewards[5] = {0.0f, 0.1f, 0.3f, 0.5f, 1.0f};
    uint32_t shape = tetris_shape(env->piece, env->rot);
    int h = shape_height(shape), w = env->n_cols;
    for (int r = 0; r < h; r++) {
        uint32_t bits = (shape >> (4 * r)) & 0xF;
        env->rows[env->row + r] |= (uint16_t)(bits << env->col);
        for (int c = 0; c < 4; c++)
            if ((bits >> c) & 1) env->cells[(env->row + r) * w + env->col + c] = (uint8_t)(env->piece + 1);
    }
    env->board_dirty = 1;
    env->can_swap = 1;
    int cleared = 0;
    for (int r = env->row + h - 1, left = h; left > 0; left--) {  // rows shift down into r
        if (env->rows[r] == env->full_row) {
            tetris_clear_row(env, r);
            cleared++;
        } else {
            r--;
        }
    }
    if (cleared > 0) {
        env->count_combos += 1;
        env->lines_deleted += cleared;
        env->score += scores[cleared];
        env->rewards[0] += rewards[cleared];
        env->episode_return += rewards[cleared];
        env->game_level = 1 + env->lines_deleted / TETRIS_LINES_PER_LEVEL;
        env->ticks_per_fall = maxi(3, TETRIS_TICKS_PER_FALL - env->game_level / 4);
        env->ticks_per_garbage = maxi(40, (int)(TETRIS_TICKS_PER_GARBAGE - 7.0f * sqrtf((float)env->game_level)));
    }
    int next = tetris_next_piece(env, 1);
    if (tetris_fits(env, next, 0, 0, spawn_col(env))) tetris_spawn_next(env);
    else env->game_over = 1;
}

// Hold: stash the falling piece and take the held one (or the next, if none is held). Allowed
// once per placed piece, and only when the incoming piece fits at the spawn place.
PUFFER_FN int tetris_hold(Tetris* env) {
    if (!env->can_swap) return 0;
    int incoming = env->hold >= 0 ? env->hold : tetris_next_piece(env, 1);
    if (!tetris_fits(env, incoming, 0, 0, spawn_col(env))) return 0;
    int current = env->piece;
    if (env->hold >= 0) {
        env->deck[env->deck_pos] = (uint8_t)incoming;
        tetris_place_at_spawn(env, incoming);
    } else {
        tetris_spawn_next(env);
    }
    env->hold = current;
    env->can_swap = 0;
    return 1;
}

PUFFER_FN void tetris_observe(Tetris* env) {
    float* o = env->observations;
    int w = env->n_cols;
    uint32_t shape;
    if (env->board_dirty) {
        for (int r = 0; r < env->n_rows; r++)
            for (int c = 0; c < w; c++) o[r * w + c] = (float)((env->rows[r] >> c) & 1);
        env->board_dirty = 0;
    } else {  // only the piece moved: its old cells were empty
        shape = tetris_shape(env->drawn_piece, env->drawn_rot);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                if ((shape >> (4 * r + c)) & 1) o[(env->drawn_row + r) * w + env->drawn_col + c] = 0.0f;
    }
    shape = tetris_shape(env->piece, env->rot);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            if ((shape >> (4 * r + c)) & 1) o[(env->row + r) * w + env->col + c] = 2.0f;
    env->drawn_piece = env->piece;
    env->drawn_rot = env->rot;
    env->drawn_row = env->row;
    env->drawn_col = env->col;

    float* s = o + TETRIS_CELLS;
    s[0] = (float)env->tick / (float)env->max_ticks;
    s[1] = (float)env->tick_fall / (float)env->ticks_per_fall;
    s[2] = (float)env->row / (float)env->n_rows;
    s[3] = (float)env->col / (float)env->n_cols;
    s[4] = (float)env->rot;
    s[5] = (float)env->can_swap;
    if (env->queue_dirty) {
        float* q = s + TETRIS_SCALARS;
        memset(q, 0, sizeof(float) * TETRIS_PIECES * (TETRIS_PREVIEW + 2));
        if (env->use_deck_obs) {
            q[env->piece] = 1.0f;
            for (int i = 1; i <= TETRIS_PREVIEW; i++) q[i * TETRIS_PIECES + tetris_next_piece(env, i)] = 1.0f;
            if (env->hold >= 0) q[(TETRIS_PREVIEW + 1) * TETRIS_PIECES + env->hold] = 1.0f;
        }
        env->queue_dirty = 0;
    }
}

PUFFER_FN void tetris_new_game(Tetris* env) {
    env->full_row = (uint16_t)((1u << env->n_cols) - 1);
    memset(env->rows, 0, sizeof(env->rows));
    memset(env->cells, 0, sizeof(env->cells));
    env->score = 0;
    env->hold = -1;
    env->can_swap = 1;
    env->tick = 0;
    env->game_level = 1;
    env->ticks_per_fall = TETRIS_TICKS_PER_FALL;
    env->ticks_per_garbage = TETRIS_TICKS_PER_GARBAGE;
    env->tick_garbage = 0;
    env->lines_deleted = 0;
    env->count_combos = 0;
    env->atn_soft_drop = env->atn_hard_drop = env->atn_rotate = env->atn_hold = 0;
    env->episode_return = 0.0f;
    env->game_over = 0;
    tetris_fill_bag(env, 0);
    tetris_fill_bag(env, TETRIS_PIECES);
    env->deck_pos = 0;
    tetris_place_at_spawn(env, env->deck[0]);
    tetris_add_garbage(env, env->n_init_garbage,
                       mini(TETRIS_INIT_GARBAGE_HOLES, env->n_cols - 1));
    env->board_dirty = 1;
    env->queue_dirty = 1;
}

PUFFER_FN void c_reset(Tetris* env) {
    tetris_new_game(env);
    tetris_observe(env);
}

PUFFER_FN void tetris_end_episode(Tetris* env) {
    float ticks = (float)env->tick;
    Log* log = &env->log;
    log->perf += (float)env->score / TETRIS_PERF_SCORE;
    log->score += (float)env->score;
    log->episode_length += ticks;
    log->episode_return += env->episode_return;
    log->lines_deleted += (float)env->lines_deleted;
    log->avg_combo += env->count_combos > 0 ? (float)env->lines_deleted / (float)env->count_combos : 1.0f;
    log->atn_frac_soft_drop += (float)env->atn_soft_drop / ticks;
    log->atn_frac_hard_drop += (float)env->atn_hard_drop / ticks;
    log->atn_frac_rotate += (float)env->atn_rotate / ticks;
    log->atn_frac_hold += (float)env->atn_hold / ticks;
    log->game_level += (float)env->game_level;
    log->ticks_per_line += env->lines_deleted > 0 ? ticks / (float)env->lines_deleted : ticks;
    log->n += 1.0f;
    tetris_new_game(env);
}

PUFFER_FN void c_step(Tetris* env) {
    env->rewards[0] = 0.0f;
    env->terminals[0] = 0.0f;
    env->truncations[0] = 0.0f;
    env->tick += 1;
    env->tick_fall += 1;
    env->tick_garbage += 1;
    int action = (int)env->actions[0];
    switch (action) {
    case TT_LEFT:
        if (tetris_fits(env, env->piece, env->rot, env->row, env->col - 1)) env->col -= 1;
        break;
    case TT_RIGHT:
        if (tetris_fits(env, env->piece, env->rot, env->row, env->col + 1)) env->col += 1;
        break;
    case TT_ROTATE:
        env->atn_rotate += 1;
        if (tetris_fits(env, env->piece, (env->rot + 1) & 3, env->row, env->col)) {
            env->rot = (env->rot + 1) & 3;
            env->rewards[0] += 0.01f;
            env->episode_return += 0.01f;
        }
        break;
    case TT_SOFT_DROP:
        env->atn_soft_drop += 1;
        if (tetris_fits(env, env->piece, env->rot, env->row + 1, env->col)) {
            env->row += 1;
            env->score += 1;
        }
        break;
    case TT_HARD_DROP:
        env->atn_hard_drop += 1;
        while (tetris_fits(env, env->piece, env->rot, env->row + 1, env->col)) {
            env->row += 1;
            env->rewards[0] += 0.02f;
            env->episode_return += 0.02f;
        }
        env->score += 2;
        tetris_lock(env);
        break;
    case TT_HOLD:
        env->atn_hold += 1;
        tetris_hold(env);
        break;
    default:
        break;
    }
    if (!env->game_over && env->tick_fall >= env->ticks_per_fall) {
        env->tick_fall = 0;
        if (tetris_fits(env, env->piece, env->rot, env->row + 1, env->col)) env->row += 1;
        else tetris_lock(env);
    }
    if (!env->game_over && env->tick >= TETRIS_GARBAGE_START
            && env->tick_garbage >= env->ticks_per_garbage) {
        env->tick_garbage = 0;
        tetris_add_garbage(env, 1, mini(mini(5, maxi(1, env->game_level / 8)), env->n_cols - 1));
    }
    if (env->game_over) {
        env->terminals[0] = 1.0f;
        tetris_end_episode(env);
    } else if (env->tick >= env->max_ticks) {
        env->truncations[0] = 1.0f;
        tetris_end_episode(env);
    }
    tetris_observe(env);
}

#if PUFFER_RENDER
#define TETRIS_CELL_PX 28
static Color tetris_colour(int id) {
    const Color palette[9] = {
        {14, 30, 34, 255},    // empty
        {240, 214, 60, 255},  // O
        {64, 208, 214, 255},  // I
        {92, 196, 96, 255},   // S
        {214, 84, 84, 255},   // Z
        {164, 96, 200, 255},  // T
        {232, 146, 52, 255},  // L
        {72, 112, 220, 255},  // J
        {110, 118, 122, 255}, // garbage
    };
    return palette[id];
}

static void tetris_draw_cell(int x, int y, int id) {
    DrawRectangle(x + 1, y + 1, TETRIS_CELL_PX - 2, TETRIS_CELL_PX - 2, tetris_colour(id));
    if (id) DrawRectangle(x + 4, y + 4, TETRIS_CELL_PX - 8, 3, (Color){255, 255, 255, 70});
}

// A piece in rotation 0 at pixel (x, y), as in the preview and hold boxes.
static void tetris_draw_piece(int piece, int x, int y, int scale) {
    uint32_t shape = tetris_shape(piece, 0);
    for (int b = 0; b < 16; b++)
        if ((shape >> b) & 1)
            DrawRectangle(x + (b % 4) * scale + 1, y + (b / 4) * scale + 1, scale - 2, scale - 2,
                          tetris_colour(piece + 1));
}
#endif

static void c_render(Tetris* env) {
#if PUFFER_RENDER
    const int px = TETRIS_CELL_PX, side = 5 * px, margin = px / 2;
    int board_w = env->n_cols * px, board_h = env->n_rows * px;
    if (!env->window_ready) {
        InitWindow(board_w + side + 2 * margin, board_h + 2 * margin, "PufferLib Tetris");
        SetTargetFPS(30);
        env->window_ready = 1;
    }
    if (!IsWindowReady()) return;
    BeginDrawing();
    ClearBackground(PUFFER_BACKGROUND);
    DrawRectangle(margin - 3, margin - 3, board_w + 6, board_h + 6, (Color){40, 70, 74, 255});
    for (int r = 0; r < env->n_rows; r++)
        for (int c = 0; c < env->n_cols; c++)
            tetris_draw_cell(margin + c * px, margin + r * px, env->cells[r * env->n_cols + c]);
    // Where a hard drop would put the piece, then the piece itself.
    int ghost = env->row;
    while (tetris_fits(env, env->piece, env->rot, ghost + 1, env->col)) ghost++;
    uint32_t shape = tetris_shape(env->piece, env->rot);
    for (int b = 0; b < 16; b++) {
        if (!((shape >> b) & 1)) continue;
        int x = margin + (env->col + b % 4) * px;
        DrawRectangleLines(x + 2, margin + (ghost + b / 4) * px + 2, px - 4, px - 4, tetris_colour(env->piece + 1));
        tetris_draw_cell(x, margin + (env->row + b / 4) * px, env->piece + 1);
    }
    int sx = 2 * margin + board_w, small = px * 3 / 4;
    DrawText("NEXT", sx, margin, 20, PUFFER_WHITE);
    for (int i = 1; i <= TETRIS_PREVIEW; i++)
        tetris_draw_piece(tetris_next_piece(env, i), sx, margin + 26 + (i - 1) * 4 * small, small);
    int hy = margin + 40 + 8 * small;
    DrawText("HOLD", sx, hy, 20, PUFFER_WHITE);
    if (env->hold >= 0) tetris_draw_piece(env->hold, sx, hy + 26, small);
    int ty = hy + 40 + 4 * small;
    DrawText(TextFormat("%d", env->score), sx, ty, 20, PUFFER_CYAN);
    DrawText(TextFormat("lines %d", env->lines_deleted), sx, ty + 26, 16, PUFFER_WHITE);
    DrawText(TextFormat("level %d", env->game_level), sx, ty + 46, 16, PUFFER_WHITE);
    EndDrawing();
#else
    (void)env;
#endif
}

static void c_close(Tetris* env) {
#if PUFFER_RENDER
    if (env->window_ready && IsWindowReady()) CloseWindow();
#endif
    env->window_ready = 0;
}

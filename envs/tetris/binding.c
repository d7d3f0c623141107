// binding.c: tetris's shape for the trainer, then the runtime.
#include "tetris.h"

#define Env Tetris
#define ENV_NAME "tetris"
#define OBS_SIZE TETRIS_OBS        // 234: board 200 + 6 scalars + 4 one-hot pieces of 7
#define OBS_DTYPE PUFFER_OBS_F32
#define NUM_ATNS 1
#define ACT_SIZES {7}              // noop, left, right, rotate, soft drop, hard drop, hold

#include "vecenv.h"

// Reads every key of tetris.ini's [env] section (the reference's keys and defaults).
static void my_init(Tetris* env, Kwargs* kw) {
    int num_agents = (int)kw_get(kw, "num_agents", 1);
    env->n_rows = (int)kw_get(kw, "n_rows", 20);
    env->n_cols = (int)kw_get(kw, "n_cols", 10);
    env->use_deck_obs = (int)kw_get(kw, "use_deck_obs", 1);
    env->n_init_garbage = (int)kw_get(kw, "n_init_garbage", 4);
    env->max_ticks = (int)kw_get(kw, "max_ticks", 10000);
    int n_noise_obs = (int)kw_get(kw, "n_noise_obs", 0);
    env->num_agents = 1;
    if (num_agents != 1) {
        kw_fail(kw, "num_agents must be 1 (got %d)", num_agents);
    } else if (env->n_cols < 4 || env->n_cols > TETRIS_MAX_COLS || env->n_rows * env->n_cols != TETRIS_CELLS) {
        kw_fail(kw, "n_rows * n_cols must be %d (OBS_SIZE %d is fixed at build time) with n_cols in "
                "[4, %d], got %d x %d", TETRIS_CELLS, OBS_SIZE, TETRIS_MAX_COLS, env->n_rows, env->n_cols);
    } else if (env->use_deck_obs != 0 && env->use_deck_obs != 1) {
        kw_fail(kw, "use_deck_obs must be 0 or 1 (got %d)", env->use_deck_obs);
    } else if (env->n_init_garbage < 0 || env->n_init_garbage > env->n_rows - 4) {
        kw_fail(kw, "n_init_garbage must be in [0, n_rows - 4 = %d] (got %d)",
                env->n_rows - 4, env->n_init_garbage);
    } else if (env->max_ticks < 1) {
        kw_fail(kw, "max_ticks must be >= 1 (got %d)", env->max_ticks);
    } else if (n_noise_obs != 0) {
        kw_fail(kw, "n_noise_obs must be 0 (got %d): noise bits would not fit the %d-float observation",
                n_noise_obs, OBS_SIZE);
    }
}

static void my_log(Log* log, PufferLogOut* out) {
    log_put(out, "perf", log->perf);
    log_put(out, "score", log->score);
    log_put(out, "episode_return", log->episode_return);
    log_put(out, "episode_length", log->episode_length);
    log_put(out, "lines_deleted", log->lines_deleted);
    log_put(out, "avg_combo", log->avg_combo);
    log_put(out, "atn_frac_soft_drop", log->atn_frac_soft_drop);
    log_put(out, "atn_frac_hard_drop", log->atn_frac_hard_drop);
    log_put(out, "atn_frac_rotate", log->atn_frac_rotate);
    log_put(out, "atn_frac_hold", log->atn_frac_hold);
    log_put(out, "game_level", log->game_level);
    log_put(out, "ticks_per_line", log->ticks_per_line);
}

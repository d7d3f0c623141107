// tower_climb_rules.c: tower_climb's rules on hand-built worlds (run by tests/test_env_tower_climb.py).
// Prints one line per failed check and exits 1 if any failed.
#include "tower_climb.h"

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __func__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

static unsigned char obs[TC_OBS_SIZE];
static float action, reward, terminal, truncation;

static int cell(int x, int z, int y) { return x + TC_SIDE * z + TC_FLOOR * y; }

// An empty world with a 5 x 5 floor slab (x, z in 1-5) on floor 1, the goal far away, the robot
// at (x, z, 2) facing `facing`.
static TowerClimb world(int x, int z, int facing) {
    TowerClimb env;
    memset(&env, 0, sizeof(env));
    env.observations = obs;
    env.actions = &action;
    env.rewards = &reward;
    env.terminals = &terminal;
    env.truncations = &truncation;
    env.rng = 7;
    env.num_agents = 1;
    tower_climb_defaults(&env);
    for (int i = 1; i <= 5; i++)
        for (int j = 1; j <= 5; j++) tc_set(env.blocks, cell(i, j, 1));
    env.goal = cell(9, 9, 8);
    env.pos = cell(x, z, 2);
    env.facing = facing;
    env.grabbed = -1;
    return env;
}

static void step(TowerClimb* env, int a) {
    action = (float)a;
    c_step(env);
}

static void test_turn_then_walk(void) {
    TowerClimb e = world(3, 3, TC_NZ);
    step(&e, TC_PX);
    CHECK(e.facing == TC_PX && e.pos == cell(3, 3, 2) && reward == 0, "turn only");
    step(&e, TC_PX);
    CHECK(e.pos == cell(4, 3, 2) && reward == 0, "walk +x");
}

static void test_climb_rewards_new_floors_only(void) {
    TowerClimb e = world(3, 3, TC_PX);
    tc_set(e.blocks, cell(4, 3, 2));
    tc_set(e.blocks, cell(5, 3, 2));
    tc_set(e.blocks, cell(5, 3, 3));
    step(&e, TC_PX);
    CHECK(e.pos == cell(4, 3, 3) && reward == e.reward_climb_row && e.rows_cleared == 1,
          "climb to floor 3: pos %d reward %g", e.pos, reward);
    step(&e, TC_PX);
    CHECK(e.pos == cell(5, 3, 4) && reward == e.reward_climb_row && e.rows_cleared == 2, "floor 4");
    TowerClimb f = world(3, 3, TC_PX);
    tc_set(f.blocks, cell(4, 3, 2));
    tc_set(f.blocks, cell(3, 3, 3));  // a block over the robot's head
    step(&f, TC_PX);
    CHECK(f.pos == cell(3, 3, 2) && reward == f.reward_illegal_move, "blocked climb is illegal");
}

static void test_walking_off_a_ledge(void) {
    TowerClimb e = world(5, 3, TC_PX);
    step(&e, TC_PX);
    CHECK(e.pos == cell(6, 3, 1) && e.hanging && e.facing == TC_NX && reward == e.reward_fall_row,
          "hang from the ledge facing back: pos %d hanging %d facing %d", e.pos, e.hanging, e.facing);
    TowerClimb f = world(5, 3, TC_PX);
    tc_set(f.blocks, cell(5, 3, 2));  // the robot stands on (5, 3, 2), floor 3
    f.pos = cell(5, 3, 3);
    tc_set(f.blocks, cell(6, 3, 1));  // a step down
    step(&f, TC_PX);
    CHECK(f.pos == cell(6, 3, 2) && !f.hanging, "step down one floor");
}

static void test_hanging_moves(void) {
    TowerClimb e = world(5, 3, TC_PX);
    step(&e, TC_PX);  // hanging at (6, 3, 1) facing -x
    step(&e, TC_PZ);
    CHECK(reward == e.reward_illegal_move && e.pos == cell(6, 3, 1), "+z while hanging is refused");
    step(&e, TC_PX);  // the robot's right: -z along the ledge
    CHECK(e.pos == cell(6, 2, 1) && e.hanging && e.facing == TC_NX, "shimmy: pos %d", e.pos);
    step(&e, TC_PX);
    CHECK(e.pos == cell(6, 1, 1), "shimmy to the corner");
    step(&e, TC_PX);  // outer corner: round the slab's corner block to its -z face
    CHECK(e.pos == cell(5, 0, 1) && e.facing == TC_PZ && e.hanging,
          "outer corner: pos %d facing %d", e.pos, e.facing);
    step(&e, TC_NZ);  // climb up onto the ledge
    CHECK(e.pos == cell(5, 1, 2) && !e.hanging, "climb up from hanging: pos %d", e.pos);

    TowerClimb f = world(5, 3, TC_PX);
    step(&f, TC_PX);
    tc_set(f.blocks, cell(6, 2, 1));  // a block beside the hanging robot: inner corner
    step(&f, TC_PX);
    CHECK(f.pos == cell(6, 3, 1) && f.facing == TC_NZ && f.hanging, "inner corner turns to face it");
}

static void test_letting_go(void) {
    TowerClimb e = world(5, 3, TC_PX);
    step(&e, TC_PX);
    step(&e, TC_LET_GO);  // nothing below: falls out of the world
    CHECK(reward == -1.0f && terminal == 1.0f && e.log.n == 1 && e.log.perf == 0, "death by falling");
    TowerClimb f = world(5, 3, TC_PX);
    tc_set(f.blocks, cell(5, 3, 2));
    tc_set(f.blocks, cell(5, 3, 3));
    f.pos = cell(5, 3, 4);  // standing on floor 4
    step(&f, TC_PX);  // hangs at (6, 3, 3)
    CHECK(f.hanging && f.pos == cell(6, 3, 3), "hanging high");
    tc_set(f.blocks, cell(6, 3, 1));
    step(&f, TC_LET_GO);
    CHECK(f.pos == cell(6, 3, 2) && !f.hanging && terminal == 0, "lands on the first block below");
    step(&f, TC_LET_GO);
    CHECK(reward == f.reward_illegal_move, "letting go while standing free is illegal");
}

static void test_grab_push_pull(void) {
    TowerClimb e = world(2, 3, TC_PX);
    tc_set(e.blocks, cell(3, 3, 2));
    tc_set(e.blocks, cell(4, 3, 2));
    step(&e, TC_GRAB);
    CHECK(e.grabbed == cell(3, 3, 2) && reward == 0, "grab");
    step(&e, TC_PX);  // pushes both blocks of the row
    CHECK(!tc_block(e.blocks, cell(3, 3, 2)) && tc_block(e.blocks, cell(4, 3, 2))
          && tc_block(e.blocks, cell(5, 3, 2)) && e.pos == cell(2, 3, 2) && e.grabbed == -1
          && reward == e.reward_move_block, "push a row of two");

    TowerClimb p = world(3, 3, TC_PX);
    tc_set(p.blocks, cell(4, 3, 2));
    step(&p, TC_GRAB);
    step(&p, TC_NX);  // pull: the block follows into the robot's cell
    CHECK(tc_block(p.blocks, cell(3, 3, 2)) && !tc_block(p.blocks, cell(4, 3, 2))
          && p.pos == cell(2, 3, 2) && p.grabbed == cell(3, 3, 2), "pull one step");
    step(&p, TC_NX);
    step(&p, TC_NX);  // the third pull has no floor behind: drop and hang
    CHECK(p.pos == cell(0, 3, 1) && p.hanging && p.grabbed == -1 && tc_block(p.blocks, cell(1, 3, 2)),
          "pull off the edge hangs: pos %d hanging %d", p.pos, p.hanging);

    TowerClimb w = world(8, 3, TC_PX);
    tc_set(w.blocks, cell(8, 3, 1));
    tc_set(w.blocks, cell(9, 3, 2));
    w.pos = cell(8, 3, 2);
    step(&w, TC_GRAB);
    step(&w, TC_PX);
    CHECK(tc_block(w.blocks, cell(9, 3, 2)) && reward == w.reward_illegal_move,
          "no push out of the world");

    TowerClimb t = world(3, 3, TC_PX);
    tc_set(t.blocks, cell(4, 3, 2));
    step(&t, TC_GRAB);
    step(&t, TC_PZ);  // turning away lets go
    CHECK(t.facing == TC_PZ && t.grabbed == -1 && reward == t.reward_move_block, "turn lets go");
}

static void test_blocks_fall(void) {
    // A block pushed past the slab's edge has no support below or beside below it: it falls,
    // here out of the world.
    TowerClimb e = world(5, 3, TC_PX);
    tc_set(e.blocks, cell(6, 3, 2));  // held up by the slab's edge (5, 3, 1)
    step(&e, TC_GRAB);
    step(&e, TC_PX);
    CHECK(!tc_block(e.blocks, cell(7, 3, 2)) && !tc_block(e.blocks, cell(7, 3, 1))
          && !tc_block(e.blocks, cell(7, 3, 0)), "falls out of the world");
    // With a block on floor 0 it lands on floor 1, and a block resting on it follows.
    TowerClimb f = world(5, 3, TC_PX);
    tc_set(f.blocks, cell(6, 3, 2));
    tc_set(f.blocks, cell(7, 3, 0));
    tc_set(f.blocks, cell(8, 3, 3));  // held only by the edge of (7, 3, 2) once the block is there
    step(&f, TC_GRAB);
    step(&f, TC_PX);
    CHECK(tc_block(f.blocks, cell(7, 3, 1)) && !tc_block(f.blocks, cell(7, 3, 2)),
          "lands on the floor-0 block");
    // edge support: a block beside-below keeps a block up
    TowerClimb g = world(3, 3, TC_PX);
    tc_set(g.blocks, cell(4, 3, 2));
    tc_set(g.blocks, cell(4, 3, 3));
    step(&g, TC_GRAB);
    step(&g, TC_PX);  // (4,3,2) -> (5,3,2); (4,3,3) is still held by its edge over (5,3,2)
    CHECK(tc_block(g.blocks, cell(4, 3, 3)) && tc_block(g.blocks, cell(5, 3, 2)), "edge support");
}

static void test_goal(void) {
    TowerClimb e = world(3, 3, TC_PX);
    e.goal = cell(4, 3, 2);
    step(&e, TC_PX);
    CHECK(reward == 1.0f && terminal == 1.0f && e.log.perf == 1 && e.log.n == 1
          && e.log.episode_length == 1, "climbing onto the goal wins");
    TowerClimb g = world(3, 3, TC_PX);
    g.goal = cell(4, 3, 2);
    step(&g, TC_GRAB);
    CHECK(g.grabbed == g.goal, "the goal can be held");
    step(&g, TC_PX);
    CHECK(reward == g.reward_illegal_move && g.goal == cell(4, 3, 2), "but not pushed");
}

static void test_sixty_steps(void) {
    TowerClimb e = world(3, 3, TC_PX);
    for (int i = 0; i < 59; i++) {
        step(&e, i % 2 ? TC_PX : TC_PZ);
        CHECK(truncation == 0 && terminal == 0, "step %d", i);
    }
    step(&e, TC_PX);
    CHECK(truncation == 1.0f && terminal == 0 && e.log.n == 1 && e.log.perf == 0
          && e.log.episode_length == 60, "truncated at 60 steps");
}

static void test_generated_levels(void) {
    TowerClimb e = world(3, 3, TC_PX);
    int goal_floors[TC_FLOORS] = {0};
    for (int k = 0; k < 2000; k++) {
        c_reset(&e);
        int s = e.spawn, g = e.goal;
        CHECK(tc_y(s) == 2 && tc_block(e.blocks, s - TC_FLOOR) && !tc_block(e.blocks, s), "spawn");
        CHECK(e.pos == s && e.facing == TC_NZ && !e.hanging && e.grabbed == -1, "start state");
        int below = g - TC_FLOOR;
        CHECK(tc_block(e.blocks, tc_step(below, 0)) || tc_block(e.blocks, tc_step(below, 1))
              || tc_block(e.blocks, tc_step(below, 2)), "goal beside a block below it");
        goal_floors[tc_y(g)]++;
        for (int c = 0; c < TC_CELLS; c++) {
            if (!tc_block(e.blocks, c)) continue;
            int x = tc_x(c), z = tc_z(c), y = tc_y(c);
            CHECK(x >= 1 && x <= 7 && z >= 1 && z <= 7 && y >= 1 && y < tc_y(g) && z <= 8 - y,
                  "block %d outside the region", c);
        }
    }
    for (int y = 5; y <= 8; y++) CHECK(goal_floors[y] > 350, "goal floor %d: %d", y, goal_floors[y]);
}

int main(void) {
    test_turn_then_walk();
    test_climb_rewards_new_floors_only();
    test_walking_off_a_ledge();
    test_hanging_moves();
    test_letting_go();
    test_grab_push_pull();
    test_blocks_fall();
    test_goal();
    test_sixty_steps();
    test_generated_levels();
    if (failures) return 1;
    printf("ok\n");
    return 0;
}

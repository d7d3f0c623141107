// binding_continuous.c: "cartpole_continuous", one continuous action dim: force = action *
// force_mag, the action clipped to [-1, 1]. It shares cartpole.ini with the discrete env.
#define CARTPOLE_CONTINUOUS_BINDING 1
#include "binding.c"

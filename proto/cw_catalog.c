/*  cw_catalog.c - the field catalog (see include/coachwire/cw_catalog.h).
 *  Adding a field to a .proto without a line here fails tests/test_catalog.c. */
#include "coachwire/cw_catalog.h"

#include <string.h>

#define LOW CW_SENSITIVITY_LOW
#define MED CW_SENSITIVITY_MEDIUM
#define HIGH CW_SENSITIVITY_HIGH

static const cw_catalog_entry_t s_entries [] = {
    /* raw inertial data */
    { "imu.time", 1, "coachwire.ImuBatch", { 1, 2 }, "ms, mHz",
      "start time and sample rate of the inertial samples", LOW, true },
    { "imu.placement", 1, "coachwire.ImuBatch", { 3 }, "enum",
      "where the sensor is worn (pocket, foot, wrist)", LOW, false },
    { "imu.accel", 1, "coachwire.ImuBatch", { 4, 5, 6 }, "mm/s^2",
      "raw acceleration on three axes; steps, cadence and running form are derived from it", MED,
      false },
    { "imu.gyro", 1, "coachwire.ImuBatch", { 7, 8, 9 }, "mdeg/s",
      "raw rotation rate on three axes; used for stride and foot contact detection", MED, false },
    /* heart */
    { "heart_rate.time", 2, "coachwire.HeartRateBatch", { 1, 2 }, "ms",
      "when each heart rate sample was taken", LOW, true },
    { "heart_rate.bpm", 2, "coachwire.HeartRateBatch", { 3 }, "beats/min",
      "heart rate", HIGH, false },
    { "heart_rate.rr_interval", 2, "coachwire.HeartRateBatch", { 4 }, "ms",
      "beat-to-beat intervals (heart rate variability)", HIGH, false },
    /* location */
    { "location.time", 3, "coachwire.LocationBatch", { 1, 2 }, "ms",
      "when each position or speed sample was taken", LOW, true },
    { "location.position", 3, "coachwire.LocationBatch", { 3, 4 }, "deg x 1e7",
      "latitude and longitude: where you were", HIGH, false },
    { "location.altitude", 3, "coachwire.LocationBatch", { 5 }, "cm",
      "height above sea level", MED, false },
    { "location.speed", 3, "coachwire.LocationBatch", { 6 }, "mm/s",
      "speed over ground (pace)", LOW, false },
    { "location.distance", 3, "coachwire.LocationBatch", { 7 }, "cm",
      "distance covered in the activity", LOW, false },
    /* running dynamics reported by the device */
    { "running.time", 4, "coachwire.RunningDynamicsBatch", { 1, 2 }, "ms",
      "when each running dynamics sample was taken", LOW, true },
    { "running.cadence", 4, "coachwire.RunningDynamicsBatch", { 3 }, "steps/min x 10",
      "steps per minute", LOW, false },
    { "running.vertical_oscillation", 4, "coachwire.RunningDynamicsBatch", { 4 }, "mm x 10",
      "how much you bounce with each step", LOW, false },
    { "running.stance_time", 4, "coachwire.RunningDynamicsBatch", { 5 }, "ms x 10",
      "ground contact time of each step", LOW, false },
    { "running.stance_balance", 4, "coachwire.RunningDynamicsBatch", { 6 }, "% x 100",
      "left foot share of ground contact time (left/right balance)", MED, false },
    { "running.step_length", 4, "coachwire.RunningDynamicsBatch", { 7 }, "mm",
      "length of each step", LOW, false },
    { "running.vertical_ratio", 4, "coachwire.RunningDynamicsBatch", { 8 }, "% x 100",
      "vertical oscillation divided by step length", LOW, false },
    { "running.power", 4, "coachwire.RunningDynamicsBatch", { 9 }, "W",
      "running power", LOW, false },
    /* meals */
    { "meal.time", 5, "coachwire.MealEntry", { 1 }, "ms",
      "when a meal was eaten or logged", MED, true },
    { "meal.kind", 5, "coachwire.MealEntry", { 2 }, "enum",
      "breakfast, lunch, dinner or snack", LOW, false },
    { "meal.items", 5, "coachwire.MealEntry", { 3, 4 }, "text",
      "what you ate and how much, as you wrote it", HIGH, false },
    { "meal.energy", 5, "coachwire.MealEntry", { 5 }, "kcal", "food energy (calories)", MED, false },
    { "meal.protein", 5, "coachwire.MealEntry", { 6 }, "mg", "protein in the food", MED, false },
    { "meal.carbohydrate", 5, "coachwire.MealEntry", { 7 }, "mg", "carbohydrate in the food", MED, false },
    { "meal.fat", 5, "coachwire.MealEntry", { 8 }, "mg", "fat in the food", MED, false },
    { "meal.sugar", 5, "coachwire.MealEntry", { 9 }, "mg", "sugars in the food", MED, false },
    { "meal.sodium", 5, "coachwire.MealEntry", { 10 }, "mg", "sodium (salt) in the food", MED, false },
    { "meal.fibre", 5, "coachwire.MealEntry", { 11 }, "mg", "dietary fibre in the food", MED, false },
    /* body */
    { "weight.time", 6, "coachwire.BodyWeightBatch", { 1, 2 }, "ms",
      "when you weighed yourself", LOW, true },
    { "weight.body_weight", 6, "coachwire.BodyWeightBatch", { 3 }, "g",
      "body weight", HIGH, false },
};

static const char *s_stream_names [] = { NULL, "imu", "heart_rate", "location", "running",
                                         "meal", "weight" };

const cw_catalog_entry_t *
cw_catalog_entries (size_t *count)
{
    if (count)
        *count = sizeof s_entries / sizeof s_entries [0];
    return s_entries;
}

const cw_catalog_entry_t *
cw_catalog_find (const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof s_entries / sizeof s_entries [0]; i++)
        if (strcmp (s_entries [i].name, name) == 0)
            return &s_entries [i];
    return NULL;
}

const cw_catalog_entry_t *
cw_catalog_find_proto (const char *message, uint32_t field_number)
{
    if (!message)
        return NULL;
    for (size_t i = 0; i < sizeof s_entries / sizeof s_entries [0]; i++) {
        if (strcmp (s_entries [i].message, message) != 0)
            continue;
        for (size_t f = 0; f < CW_CATALOG_MAX_PROTO_FIELDS && s_entries [i].proto_fields [f]; f++)
            if (s_entries [i].proto_fields [f] == field_number)
                return &s_entries [i];
    }
    return NULL;
}

bool
cw_catalog_matches (const char *pattern, const char *name)
{
    if (!pattern || !name)
        return false;
    if (strcmp (pattern, "*") == 0)
        return true;
    size_t plen = strlen (pattern);
    if (plen >= 2 && pattern [plen - 1] == '*' && pattern [plen - 2] == '.')
        return strncmp (pattern, name, plen - 1) == 0;
    return strcmp (pattern, name) == 0;
}

int
cw_catalog_index (const cw_catalog_entry_t *entry)
{
    size_t n = sizeof s_entries / sizeof s_entries [0];
    if (entry < s_entries || entry >= s_entries + n)
        return -1;
    return (int) (entry - s_entries);
}

const char *
cw_stream_name (uint16_t stream)
{
    return stream >= 1 && stream <= 6 ? s_stream_names [stream] : NULL;
}

-- Arithmetic: + - * / on INT (integer division truncates toward zero), MOD and %,
-- mixed INT/BIGINT, INT/DOUBLE and INT/DECIMAL operands and their result types,
-- decimal literals (2.0 and 1.5 are DECIMAL, not DOUBLE), unary minus, ABS, parentheses,
-- and NULL propagation. Sink columns have the types Flink derives for each expression.
CREATE TABLE nums (
  id INT,
  a INT,
  b INT,
  big BIGINT,
  x DOUBLE,
  m DECIMAL(6, 2)
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id INT,
  a_plus_b INT,
  a_minus_b INT,
  a_times_b INT,
  a_div_b INT,
  a_mod_b INT,
  a_pct_b INT,
  a_plus_big BIGINT,
  big_div_b BIGINT,
  a_times_x DOUBLE,
  a_div_x DOUBLE,
  a_plus_m DECIMAL(13, 2),
  m_times_b DECIMAL(17, 2),
  m_div_b DECIMAL(17, 13),
  neg_a INT,
  abs_a INT,
  expr INT,
  x_div_2 DOUBLE,
  a_div_2_0 DECIMAL(17, 6),
  a_times_1_5 DECIMAL(13, 1),
  m_plus_x DOUBLE
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  a + b,
  a - b,
  a * b,
  a / b,
  MOD(a, b),
  a % b,
  a + big,
  big / b,
  a * x,
  a / x,
  a + m,
  m * b,
  m / b,
  -a,
  ABS(a),
  (a + 1) * (b - 1) / 2,
  x / 2,
  a / 2.0,
  a * 1.5,
  m + x
FROM nums;

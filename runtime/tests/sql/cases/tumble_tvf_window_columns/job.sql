-- The windowing TVF on its own (no aggregation): every input row with the window_start,
-- window_end and window_time columns appended. window_time is window_end - 1 ms and is a
-- rowtime attribute. Since both ts and window_time are rowtime attributes, and a sink
-- accepts at most one, ts is cast to a plain TIMESTAMP(3).
CREATE TABLE orders (
  user_name STRING,
  item STRING,
  amount INT,
  price DECIMAL(10, 2),
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  user_name STRING,
  item STRING,
  amount INT,
  price DECIMAL(10, 2),
  ts TIMESTAMP(3),
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  window_time TIMESTAMP(3)
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT user_name, item, amount, price, CAST(ts AS TIMESTAMP(3)), window_start, window_end, window_time
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND));

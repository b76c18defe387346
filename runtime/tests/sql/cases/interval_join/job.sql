-- Interval join: an order matches a shipment of the same order id shipped within 5 s
-- after it (o.order_ts BETWEEN s.ship_ts - 5 s AND s.ship_ts, bounds inclusive). Order 1
-- matches shipments 100 and 102 (exactly 5 s) but not 106 (5.001 s); order 2 matches a
-- shipment at the same instant; order 3 (7 s) and order 4 (shipped before ordering) do
-- not match; order 5 matches at exactly 5 s. The watermark delay exceeds the inputs'
-- span, so no row expires before the end of input and the result does not depend on how
-- the two inputs interleave. Append-only result.
CREATE TABLE orders (
  order_id BIGINT,
  product STRING,
  order_ts TIMESTAMP(3),
  WATERMARK FOR order_ts AS order_ts - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/orders.json',
  'format' = 'json'
);

CREATE TABLE shipments (
  ship_id BIGINT,
  order_id BIGINT,
  ship_ts TIMESTAMP(3),
  WATERMARK FOR ship_ts AS ship_ts - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/shipments.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  order_id BIGINT,
  product STRING,
  ship_id BIGINT,
  order_ts TIMESTAMP(3),
  ship_ts TIMESTAMP(3)
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT o.order_id, o.product, s.ship_id, CAST(o.order_ts AS TIMESTAMP(3)), CAST(s.ship_ts AS TIMESTAMP(3))
FROM orders AS o, shipments AS s
WHERE o.order_id = s.order_id
  AND o.order_ts BETWEEN s.ship_ts - INTERVAL '5' SECOND AND s.ship_ts;

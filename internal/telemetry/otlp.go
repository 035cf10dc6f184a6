package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// This file is an OTLP/HTTP exporter of spans and metrics in OTLP's JSON
// encoding (the protobuf JSON mapping, Content-Type application/json),
// which every OTLP/HTTP receiver takes beside protobuf. It exists because
// the SDK's own OTLP exporters bring protobuf and gRPC into every
// function, 8.5 MB of binary and about 6 MiB of memory (bench/coldstart.md),
// which each cold start pays; this needs encoding/json and net/http, which a
// function links anyway.

// An endpoint is where one signal goes: OTEL_EXPORTER_OTLP_*.
type endpoint struct {
	url     string
	headers map[string]string
	timeout time.Duration
	client  *http.Client
}

// errShutdown is what an exporter answers after Shutdown.
var errShutdown = errors.New("telemetry: exporter shut down")

// post sends msg as OTLP JSON, once: the SDK's batching and periodic
// reader send again what comes after, and a function that is about to
// scale to zero has no time for retries.
func (e *endpoint) post(ctx context.Context, what string, msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("telemetry: encode %s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telemetry: export %s: %w", what, err)
	}
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("telemetry: export %s to %s: %w", what, e.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("telemetry: export %s to %s: %s: %s", what, e.url, resp.Status, msg)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// spanExporter is an sdktrace.SpanExporter to an OTLP/HTTP endpoint.
type spanExporter struct {
	endpoint
	stopped atomic.Bool
}

func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Load() {
		return errShutdown
	}
	if len(spans) == 0 {
		return nil
	}
	return e.post(ctx, "spans", exportTraces(spans))
}

func (e *spanExporter) Shutdown(context.Context) error {
	e.stopped.Store(true)
	return nil
}

// metricExporter is an sdkmetric.Exporter to an OTLP/HTTP endpoint, with
// cumulative sums and explicit-bucket histograms, OTLP's defaults.
type metricExporter struct {
	endpoint
	stopped atomic.Bool
}

func (e *metricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *metricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *metricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if e.stopped.Load() {
		return errShutdown
	}
	msg := exportMetrics(rm)
	if len(msg.ResourceMetrics[0].ScopeMetrics) == 0 {
		return nil
	}
	return e.post(ctx, "metrics", msg)
}

func (e *metricExporter) ForceFlush(context.Context) error { return nil }

func (e *metricExporter) Shutdown(context.Context) error {
	e.stopped.Store(true)
	return nil
}

// The messages of OTLP's JSON encoding: opentelemetry-proto's
// ExportTraceServiceRequest and ExportMetricsServiceRequest. Ids are hex,
// 64-bit integers strings, enums numbers, as the mapping says.
type (
	traceRequest struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	}
	resourceSpans struct {
		Resource   otlpResource `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	scopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name    string `json:"name,omitempty"`
		Version string `json:"version,omitempty"`
	}
	otlpSpan struct {
		TraceID                string      `json:"traceId"`
		SpanID                 string      `json:"spanId"`
		TraceState             string      `json:"traceState,omitempty"`
		ParentSpanID           string      `json:"parentSpanId,omitempty"`
		Flags                  uint32      `json:"flags,omitempty"`
		Name                   string      `json:"name"`
		Kind                   int         `json:"kind"`
		StartTimeUnixNano      string      `json:"startTimeUnixNano"`
		EndTimeUnixNano        string      `json:"endTimeUnixNano"`
		Attributes             []keyValue  `json:"attributes,omitempty"`
		DroppedAttributesCount int         `json:"droppedAttributesCount,omitempty"`
		Events                 []spanEvent `json:"events,omitempty"`
		Links                  []spanLink  `json:"links,omitempty"`
		Status                 *spanStatus `json:"status,omitempty"`
	}
	spanEvent struct {
		TimeUnixNano string     `json:"timeUnixNano"`
		Name         string     `json:"name"`
		Attributes   []keyValue `json:"attributes,omitempty"`
	}
	spanLink struct {
		TraceID    string     `json:"traceId"`
		SpanID     string     `json:"spanId"`
		TraceState string     `json:"traceState,omitempty"`
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	spanStatus struct {
		Message string `json:"message,omitempty"`
		Code    int    `json:"code,omitempty"`
	}
	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	anyValue struct {
		StringValue *string     `json:"stringValue,omitempty"`
		BoolValue   *bool       `json:"boolValue,omitempty"`
		IntValue    *string     `json:"intValue,omitempty"`
		DoubleValue *float64    `json:"doubleValue,omitempty"`
		ArrayValue  *arrayValue `json:"arrayValue,omitempty"`
	}
	arrayValue struct {
		Values []anyValue `json:"values"`
	}

	metricsRequest struct {
		ResourceMetrics []resourceMetrics `json:"resourceMetrics"`
	}
	resourceMetrics struct {
		Resource     otlpResource   `json:"resource"`
		ScopeMetrics []scopeMetrics `json:"scopeMetrics"`
	}
	scopeMetrics struct {
		Scope   otlpScope    `json:"scope"`
		Metrics []otlpMetric `json:"metrics"`
	}
	otlpMetric struct {
		Name        string     `json:"name"`
		Description string     `json:"description,omitempty"`
		Unit        string     `json:"unit,omitempty"`
		Sum         *sum       `json:"sum,omitempty"`
		Gauge       *gauge     `json:"gauge,omitempty"`
		Histogram   *histogram `json:"histogram,omitempty"`
	}
	sum struct {
		DataPoints             []numberPoint `json:"dataPoints"`
		AggregationTemporality int           `json:"aggregationTemporality"`
		IsMonotonic            bool          `json:"isMonotonic,omitempty"`
	}
	gauge struct {
		DataPoints []numberPoint `json:"dataPoints"`
	}
	numberPoint struct {
		Attributes        []keyValue `json:"attributes,omitempty"`
		StartTimeUnixNano string     `json:"startTimeUnixNano,omitempty"`
		TimeUnixNano      string     `json:"timeUnixNano"`
		AsInt             *string    `json:"asInt,omitempty"`
		AsDouble          *float64   `json:"asDouble,omitempty"`
	}
	histogram struct {
		DataPoints             []histogramPoint `json:"dataPoints"`
		AggregationTemporality int              `json:"aggregationTemporality"`
	}
	histogramPoint struct {
		Attributes        []keyValue `json:"attributes,omitempty"`
		StartTimeUnixNano string     `json:"startTimeUnixNano,omitempty"`
		TimeUnixNano      string     `json:"timeUnixNano"`
		Count             string     `json:"count"`
		Sum               *float64   `json:"sum,omitempty"`
		BucketCounts      []string   `json:"bucketCounts,omitempty"`
		ExplicitBounds    []float64  `json:"explicitBounds,omitempty"`
		Min               *float64   `json:"min,omitempty"`
		Max               *float64   `json:"max,omitempty"`
	}
)

// exportTraces groups spans by resource and scope, as OTLP carries them.
func exportTraces(spans []sdktrace.ReadOnlySpan) traceRequest {
	var req traceRequest
	resources := map[attribute.Distinct]int{}
	scopes := map[[2]int]int{} // resource index, scope key -> scope index
	scopeKeys := map[instrumentation.Scope]int{}
	for _, s := range spans {
		res := s.Resource()
		ri, ok := resources[res.Equivalent()]
		if !ok {
			ri = len(req.ResourceSpans)
			resources[res.Equivalent()] = ri
			req.ResourceSpans = append(req.ResourceSpans, resourceSpans{Resource: resourceOf(res)})
		}
		scope := s.InstrumentationScope()
		scope.Attributes = attribute.Set{} // not comparable otherwise; not sent
		sk, ok := scopeKeys[scope]
		if !ok {
			sk = len(scopeKeys)
			scopeKeys[scope] = sk
		}
		rs := &req.ResourceSpans[ri]
		si, ok := scopes[[2]int{ri, sk}]
		if !ok {
			si = len(rs.ScopeSpans)
			scopes[[2]int{ri, sk}] = si
			rs.ScopeSpans = append(rs.ScopeSpans, scopeSpans{Scope: otlpScope{Name: scope.Name, Version: scope.Version}})
		}
		rs.ScopeSpans[si].Spans = append(rs.ScopeSpans[si].Spans, spanOf(s))
	}
	return req
}

func spanOf(s sdktrace.ReadOnlySpan) otlpSpan {
	sc := s.SpanContext()
	o := otlpSpan{
		TraceID:                sc.TraceID().String(),
		SpanID:                 sc.SpanID().String(),
		TraceState:             sc.TraceState().String(),
		Flags:                  uint32(sc.TraceFlags()),
		Name:                   s.Name(),
		Kind:                   int(s.SpanKind()), // the same numbers as OTLP's SpanKind
		StartTimeUnixNano:      nanos(s.StartTime()),
		EndTimeUnixNano:        nanos(s.EndTime()),
		Attributes:             keyValues(s.Attributes()),
		DroppedAttributesCount: s.DroppedAttributes(),
	}
	if p := s.Parent(); p.IsValid() {
		o.ParentSpanID = p.SpanID().String()
	}
	for _, e := range s.Events() {
		o.Events = append(o.Events, spanEvent{TimeUnixNano: nanos(e.Time), Name: e.Name, Attributes: keyValues(e.Attributes)})
	}
	for _, l := range s.Links() {
		o.Links = append(o.Links, spanLink{
			TraceID:    l.SpanContext.TraceID().String(),
			SpanID:     l.SpanContext.SpanID().String(),
			TraceState: l.SpanContext.TraceState().String(),
			Attributes: keyValues(l.Attributes),
		})
	}
	switch st := s.Status(); st.Code {
	case codes.Error:
		o.Status = &spanStatus{Code: 2, Message: st.Description} // STATUS_CODE_ERROR
	case codes.Ok:
		o.Status = &spanStatus{Code: 1} // STATUS_CODE_OK
	}
	return o
}

func nanos(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func resourceOf(r *resource.Resource) otlpResource {
	if r == nil {
		return otlpResource{}
	}
	return otlpResource{Attributes: keyValues(r.Attributes())}
}

func keyValues(kvs []attribute.KeyValue) []keyValue {
	out := make([]keyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, keyValue{Key: string(kv.Key), Value: valueOf(kv.Value)})
	}
	return out
}

func valueOf(v attribute.Value) anyValue {
	switch v.Type() {
	case attribute.BOOL:
		b := v.AsBool()
		return anyValue{BoolValue: &b}
	case attribute.INT64:
		i := strconv.FormatInt(v.AsInt64(), 10)
		return anyValue{IntValue: &i}
	case attribute.FLOAT64:
		f := v.AsFloat64()
		return anyValue{DoubleValue: &f}
	case attribute.BOOLSLICE:
		return array(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return array(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return array(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return array(v.AsStringSlice(), attribute.StringValue)
	}
	s := v.String()
	return anyValue{StringValue: &s}
}

func array[T any](vs []T, value func(T) attribute.Value) anyValue {
	a := &arrayValue{Values: make([]anyValue, 0, len(vs))}
	for _, v := range vs {
		a.Values = append(a.Values, valueOf(value(v)))
	}
	return anyValue{ArrayValue: a}
}

// exportMetrics is rm in OTLP's JSON encoding: sums, gauges and histograms,
// the aggregations of the default selector. An empty scope is left out.
func exportMetrics(rm *metricdata.ResourceMetrics) metricsRequest {
	out := resourceMetrics{Resource: resourceOf(rm.Resource)}
	for _, sm := range rm.ScopeMetrics {
		scope := scopeMetrics{Scope: otlpScope{Name: sm.Scope.Name, Version: sm.Scope.Version}}
		for _, m := range sm.Metrics {
			om := otlpMetric{Name: m.Name, Description: m.Description, Unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				om.Sum = &sum{DataPoints: numberPoints(d.DataPoints), AggregationTemporality: temporality(d.Temporality), IsMonotonic: d.IsMonotonic}
			case metricdata.Sum[float64]:
				om.Sum = &sum{DataPoints: numberPoints(d.DataPoints), AggregationTemporality: temporality(d.Temporality), IsMonotonic: d.IsMonotonic}
			case metricdata.Gauge[int64]:
				om.Gauge = &gauge{DataPoints: numberPoints(d.DataPoints)}
			case metricdata.Gauge[float64]:
				om.Gauge = &gauge{DataPoints: numberPoints(d.DataPoints)}
			case metricdata.Histogram[int64]:
				om.Histogram = &histogram{DataPoints: histogramPoints(d.DataPoints), AggregationTemporality: temporality(d.Temporality)}
			case metricdata.Histogram[float64]:
				om.Histogram = &histogram{DataPoints: histogramPoints(d.DataPoints), AggregationTemporality: temporality(d.Temporality)}
			default:
				continue // an aggregation no instrument of ours asks for
			}
			scope.Metrics = append(scope.Metrics, om)
		}
		if len(scope.Metrics) > 0 {
			out.ScopeMetrics = append(out.ScopeMetrics, scope)
		}
	}
	return metricsRequest{ResourceMetrics: []resourceMetrics{out}}
}

// temporality is OTLP's AggregationTemporality: 1 delta, 2 cumulative.
func temporality(t metricdata.Temporality) int {
	switch t {
	case metricdata.DeltaTemporality:
		return 1
	case metricdata.CumulativeTemporality:
		return 2
	}
	return 0
}

func numberPoints[N int64 | float64](dps []metricdata.DataPoint[N]) []numberPoint {
	out := make([]numberPoint, 0, len(dps))
	for _, dp := range dps {
		p := numberPoint{Attributes: keyValues(dp.Attributes.ToSlice()), TimeUnixNano: nanos(dp.Time)}
		if !dp.StartTime.IsZero() {
			p.StartTimeUnixNano = nanos(dp.StartTime)
		}
		switch v := any(dp.Value).(type) {
		case int64:
			s := strconv.FormatInt(v, 10)
			p.AsInt = &s
		case float64:
			p.AsDouble = &v
		}
		out = append(out, p)
	}
	return out
}

func histogramPoints[N int64 | float64](dps []metricdata.HistogramDataPoint[N]) []histogramPoint {
	out := make([]histogramPoint, 0, len(dps))
	for _, dp := range dps {
		total := float64(dp.Sum)
		p := histogramPoint{
			Attributes:     keyValues(dp.Attributes.ToSlice()),
			TimeUnixNano:   nanos(dp.Time),
			Count:          strconv.FormatUint(dp.Count, 10),
			Sum:            &total,
			ExplicitBounds: dp.Bounds,
		}
		if !dp.StartTime.IsZero() {
			p.StartTimeUnixNano = nanos(dp.StartTime)
		}
		for _, c := range dp.BucketCounts {
			p.BucketCounts = append(p.BucketCounts, strconv.FormatUint(c, 10))
		}
		if v, ok := dp.Min.Value(); ok {
			f := float64(v)
			p.Min = &f
		}
		if v, ok := dp.Max.Value(); ok {
			f := float64(v)
			p.Max = &f
		}
		out = append(out, p)
	}
	return out
}

package ecs

import (
	"context"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
)

// logFollower copies new events of one log stream to out (and also),
// one line each, as poll is called.
type logFollower struct {
	d             *Driver
	group, stream string
	out, also     io.Writer
	token         *string
}

func (f *logFollower) poll(ctx context.Context) {
	for {
		out, err := f.d.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(f.group), LogStreamName: aws.String(f.stream), NextToken: f.token, StartFromHead: aws.Bool(true),
		})
		if err != nil {
			return // the stream appears once the container logs; best effort until then
		}
		for _, e := range out.Events {
			line := strings.TrimRight(aws.ToString(e.Message), "\n") + "\n"
			_, _ = io.WriteString(f.out, line) // a TailBuffer: cannot fail
			if f.also != nil {
				_, _ = io.WriteString(f.also, line) // best effort, as TaskSpec.Output says
			}
		}
		if aws.ToString(out.NextForwardToken) == aws.ToString(f.token) || len(out.Events) == 0 {
			f.token = out.NextForwardToken
			return
		}
		f.token = out.NextForwardToken
	}
}

// Logs streams the service's CloudWatch logs: one source per task stream
// (<service>/app/<task id>), each line prefixed with "[<task id>] ".
// ENOTFOUND if no such service.
func (d *Driver) Logs(ctx context.Context, env, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	if _, err := d.describe(ctx, env, name); err != nil {
		return nil, err
	}
	group := d.LogGroup(env)
	out, err := d.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(group), LogStreamNamePrefix: aws.String(name + "/app/")})
	if err != nil {
		return nil, awsclient.Err("logs:DescribeLogStreams", err)
	}
	streams := make([]string, 0, len(out.LogStreams))
	for _, s := range out.LogStreams {
		streams = append(streams, aws.ToString(s.LogStreamName))
	}
	sort.Strings(streams)
	ctx, cancel := context.WithCancel(ctx)
	sources := make([]runtime.LogSource, 0, len(streams))
	for _, s := range streams {
		sources = append(sources, runtime.LogSource{
			Prefix: "[" + s[strings.LastIndex(s, "/")+1:] + "] ",
			Copy: func(stdout, _ io.Writer) error {
				return d.copyStream(ctx, group, s, opts, stdout)
			},
			Close: func() error { return nil },
		})
	}
	return runtime.MergeLogs(cancel, sources, opts.Follow), nil
}

// copyStream writes the stream's last opts.Tail events (all for 0), then,
// with Follow, new ones until ctx ends.
func (d *Driver) copyStream(ctx context.Context, group, stream string, opts runtime.LogOptions, w io.Writer) error {
	in := &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(opts.Tail == 0)}
	if opts.Tail > 0 {
		in.Limit = awsclient.Int32(min(opts.Tail, 10000))
	}
	f := &logFollower{d: d, group: group, stream: stream, out: w}
	out, err := d.logs.GetLogEvents(ctx, in)
	if err != nil {
		return awsclient.Err("logs:GetLogEvents", err)
	}
	for _, e := range out.Events {
		if _, err := io.WriteString(w, strings.TrimRight(aws.ToString(e.Message), "\n")+"\n"); err != nil {
			return err
		}
	}
	f.token = out.NextForwardToken
	if opts.Tail == 0 {
		f.poll(ctx) // the rest, past the first page
	}
	for opts.Follow {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.cfg.PollInterval):
		}
		f.poll(ctx)
	}
	return nil
}

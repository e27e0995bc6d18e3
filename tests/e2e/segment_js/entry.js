// The page under test loads this bundle instead of Segment's CDN snippet.
import { AnalyticsBrowser } from "@segment/analytics-next";

window.AnalyticsBrowser = AnalyticsBrowser;

import "./orgs.css";

// The organization pages share their styles (app/orgs/orgs.css).
export default function OrgsLayout({ children }: { children: React.ReactNode }) {
  return children;
}

// A page's heading, and the document title that names the same page (React hoists <title> to <head>).
export default function PageTitle({ children }: { children: string }) {
  return (
    <>
      <title>{`${children} · Happening`}</title>
      <h1>{children}</h1>
    </>
  );
}
